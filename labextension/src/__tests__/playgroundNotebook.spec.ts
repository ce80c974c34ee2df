import { execFileSync } from 'child_process';

import { playgroundNotebook } from '../playgroundNotebook';

/** What Python makes of a cell: the call's arguments, read back by `ast`. */
function pythonCall(source: string): { args: unknown[]; version: number } {
  const script = [
    'import ast, json, sys',
    'tree = ast.parse(sys.stdin.read())',
    'call = tree.body[-1].value',
    'print(json.dumps({"args": [ast.literal_eval(a) for a in call.args],',
    '                  "version": ast.literal_eval(call.keywords[0].value)}))'
  ].join('\n');
  const out = execFileSync(process.env.PYTHON ?? 'python', ['-c', script], {
    input: source,
    encoding: 'utf-8'
  });
  return JSON.parse(out);
}

function codeCell(notebook: Record<string, unknown>): string {
  const cells = notebook['cells'] as { cell_type: string; source: string }[];
  return cells.filter(c => c.cell_type === 'code')[0].source;
}

describe('the chat playground notebook', () => {
  it('opens the chat widget on the model and version asked for', () => {
    const notebook = playgroundNotebook('support-bot', 3);
    expect(notebook['nbformat']).toBe(4);
    const source = codeCell(notebook);
    expect(source).toContain('from jupyter_automl.widgets import ChatPlayground');
    expect(pythonCall(source)).toEqual({ args: [null, 'support-bot'], version: 3 });
  });

  it('quotes any model name so Python reads it back unchanged', () => {
    const name = 'bot "v2" \\ naïve\'s 聊天';
    expect(pythonCall(codeCell(playgroundNotebook(name, 1))).args[1]).toBe(name);
  });
});
