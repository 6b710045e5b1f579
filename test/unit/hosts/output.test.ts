import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineSplitter, StreamCollector, TailBuffer, tail } from '../../../src/hosts/output.ts';

test('TailBuffer keeps the last cap bytes and says it truncated', () => {
  const t = new TailBuffer(5);
  t.push(Buffer.from('abc'));
  assert.equal(t.truncated, false);
  t.push(Buffer.from('defg'));
  t.push(Buffer.from('h'));
  assert.equal(t.toBuffer().toString(), 'defgh');
  assert.equal(t.truncated, true);
  t.push(Buffer.from('0123456789'));
  assert.equal(t.toBuffer().toString(), '56789');
});

test('LineSplitter joins lines across chunks, strips CR, flushes the last line', () => {
  const lines: string[] = [];
  const s = new LineSplitter((l) => lines.push(l));
  s.push(Buffer.from('one\ntw'));
  s.push(Buffer.from('o\r\nthr'));
  assert.deepEqual(lines, ['one', 'two']);
  s.push(Buffer.from('ee'));
  s.end();
  assert.deepEqual(lines, ['one', 'two', 'three']);
});

test('LineSplitter keeps multibyte characters split between chunks intact', () => {
  const lines: string[] = [];
  const s = new LineSplitter((l) => lines.push(l));
  const bytes = Buffer.from('héllo wörld\n');
  for (const b of bytes) s.push(Buffer.from([b]));
  s.end();
  assert.deepEqual(lines, ['héllo wörld']);
});

test('LineSplitter survives a throwing callback', () => {
  let n = 0;
  const s = new LineSplitter(() => {
    n += 1;
    throw new Error('bug in caller');
  });
  s.push(Buffer.from('a\nb\n'));
  assert.equal(n, 2);
});

test('StreamCollector streams lines and keeps a bounded copy', () => {
  const lines: string[] = [];
  const c = new StreamCollector(4, (l) => lines.push(l));
  c.push(Buffer.from('12\n34\n56\n'));
  assert.equal(c.end().toString(), '\n56\n');
  assert.deepEqual(lines, ['12', '34', '56']);
  assert.equal(c.truncated, true);
});

test('tail shortens long text from the front', () => {
  assert.equal(tail('abc', 5), 'abc');
  assert.equal(tail('abcdefgh', 3), '...fgh');
});
