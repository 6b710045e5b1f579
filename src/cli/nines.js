// The CLI's entry point. It turns on Node's compile cache before the first TypeScript file loads, so every start
// after the first skips type stripping (whose WebAssembly stripper alone costs ~18 MB of memory) and most
// compilation. Everything else lives in main.ts.
import { enableCompileCache } from 'node:module';

enableCompileCache();
await import('./main.ts');
