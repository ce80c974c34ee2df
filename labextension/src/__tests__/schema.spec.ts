import { execFileSync } from 'child_process';
import { readFileSync } from 'fs';
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..');

describe('schema.d.ts', () => {
  it('is what `jlpm generate:api` writes from the server OpenAPI document', () => {
    const script = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf-8'))
      .scripts['generate:api'] as string;
    // The same command and flags as the script, printing instead of writing.
    const args = script.split(' ').slice(1);
    const output = args.indexOf('-o');
    args.splice(output, 2);
    const cli = path.join(root, 'node_modules', 'openapi-typescript', 'bin', 'cli.js');
    const generated = execFileSync(process.execPath, [cli, ...args], {
      cwd: root,
      encoding: 'utf-8',
      stdio: ['ignore', 'pipe', 'ignore']
    });
    const shipped = readFileSync(path.join(root, 'src', 'schema.d.ts'), 'utf-8');
    expect(shipped).toBe(generated);
  }, 60000);
});
