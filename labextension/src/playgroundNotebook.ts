/**
 * The notebook "Open chat playground notebook" creates: the chat widget of
 * `jupyter_automl.widgets` for one trained version, ready to run. The kernel
 * opens the server's own store (the server exports it to its kernels).
 */

/** A Python string literal of any text. */
export function pythonString(text: string): string {
  return JSON.stringify(text);
}

/** The nbformat 4 notebook for chatting with `model` version `version`. */
export function playgroundNotebook(model: string, version: number): Record<string, unknown> {
  const source = [
    'from jupyter_automl.widgets import ChatPlayground',
    '',
    `ChatPlayground(None, ${pythonString(model)}, version=${version})`
  ].join('\n');
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3 (ipykernel)', language: 'python' },
      language_info: { name: 'python' }
    },
    cells: [
      {
        cell_type: 'markdown',
        id: 'about',
        metadata: {},
        source:
          `# Chat with ${model} v${version}\n\n` +
          'Run the cell below. Until the version is deployed, each message counts against its ' +
          'playground (500 requests within 15 days of training); "Also ask the base model" ' +
          'puts the untuned base model\'s answer beside it.'
      },
      {
        cell_type: 'code',
        id: 'chat',
        metadata: {},
        execution_count: null,
        outputs: [],
        source
      }
    ]
  };
}
