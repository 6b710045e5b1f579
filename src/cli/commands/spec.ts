// nines spec validate -f FILE — checks a cluster spec offline (no controller needed).
import { readFileSync } from 'node:fs';
import { NinesError } from '../../core/errors.ts';
import { loadSpec, redactSpec, specJsonSchema } from '../../core/spec.ts';
import type { CommandGroup } from '../main.ts';
import { EXIT, UsageError, printJson } from '../output.ts';
import { parseCommand, runCommand } from '../client.ts';
import { stringify } from 'yaml';

const help = `Usage: nines spec validate -f FILE [--json]
       nines spec schema

  validate  check a cluster spec (YAML or JSON) without a controller; prints the spec with defaults applied
            (credentials shown as ***) or every problem as "path: expected X, got Y"; whether ssh.key names
            a registered key is checked by the controller when the spec is submitted ("nines key list")
  schema    print the JSON Schema of the spec

Options:
  -f, --file FILE  the spec ("-" = standard input)
  --json           machine-readable output`;

export const group: CommandGroup = {
  summary: 'validate a cluster spec offline, print its JSON Schema',
  help,
  run: (args) => {
    const json = args.includes('--json');
    return runCommand(json, () =>
      Promise.resolve().then(() => {
        const { values, positionals } = parseCommand(args, {
          file: { type: 'string', short: 'f' },
          json: { type: 'boolean', default: false },
          help: { type: 'boolean', short: 'h', default: false },
        });
        if (values.help) {
          console.log(help);
          return EXIT.OK;
        }
        if (positionals[0] === 'schema') {
          printJson(specJsonSchema());
          return EXIT.OK;
        }
        if (positionals[0] !== 'validate')
          throw new UsageError(`unknown subcommand '${positionals[0] ?? ''}'`);
        if (!values.file) throw new UsageError('spec validate needs -f FILE');
        let text: string;
        try {
          text = readFileSync(values.file === '-' ? 0 : values.file, 'utf8');
        } catch (err) {
          throw new NinesError('NINES_E_INVALID_ARGUMENT', `cannot read ${values.file}`, { cause: err });
        }
        const { spec, warnings, generated } = loadSpec(text, values.file);
        const allWarnings = [...warnings];
        if (json) {
          printJson({ valid: true, spec: redactSpec(spec), warnings: allWarnings, generated });
          return EXIT.OK;
        }
        console.log(
          `${values.file}: valid ${spec.type} spec for cluster ${spec.name} (${spec.nodes.length} nodes)`,
        );
        for (const w of allWarnings) console.log(`warning: ${w}`);
        if (generated.length > 0) console.log(`generated credentials: ${generated.join(', ')}`);
        console.log(`---\n${stringify(redactSpec(spec)).trimEnd()}`);
        return EXIT.OK;
      }),
    );
  },
};
