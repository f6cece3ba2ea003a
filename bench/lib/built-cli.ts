import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The path of the CLI as a user runs it, the package's `askq` bin (dist/cli.js), after
 * compiling src/ to dist/ as `npm ci` and `npm run build` do, so it is this tree's code. The
 * TypeScript sources run by `npm run askq` cost more memory at start (Node strips their types
 * as it loads them), which is not what an installed askq pays.
 */
export async function builtCli(): Promise<string> {
  const tsc = spawn(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const code = await new Promise<number | null>((resolve) => tsc.on('close', resolve));
  if (code !== 0) throw new Error(`tsc -p tsconfig.build.json exited ${code}`);
  return join(ROOT, 'dist/cli.js');
}
