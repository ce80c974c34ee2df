import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';

import automlSvg from '../style/icons/automl.svg';
import { AutoMLPanel } from './panel';

/** Command ids. */
export namespace CommandIDs {
  export const open = 'jupyter-automl:open';
}

/** The id of the sidebar widget (also its tab's `data-id`). */
export const SIDEBAR_ID = 'jupyter-automl-sidebar';

export const automlIcon = new LabIcon({
  name: 'jupyter-automl:automl',
  svgstr: automlSvg
});

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-automl:plugin',
  description: 'AutoML sidebar: datasets and snapshots.',
  autoStart: true,
  requires: [ILabShell],
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    shell: ILabShell,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const panel = new AutoMLPanel();
    panel.id = SIDEBAR_ID;
    panel.title.icon = automlIcon;
    panel.title.caption = 'AutoML';
    panel.title.label = ''; // the sidebar shows the icon; the caption names it
    shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, SIDEBAR_ID);
    }

    app.commands.addCommand(CommandIDs.open, {
      label: 'Open AutoML',
      caption: 'Show the AutoML sidebar (datasets and snapshots)',
      icon: args => (args['isPalette'] ? undefined : automlIcon),
      execute: () => {
        shell.activateById(panel.id);
        // Run from the modal command palette, a command is followed by the palette
        // re-activating the main area's current widget (posted in this same frame,
        // after our own activation). Take the focus back after both, so keyboard
        // users land in the panel they asked for.
        requestAnimationFrame(() => panel.focusContent());
      }
    });
    if (palette) {
      palette.addItem({ command: CommandIDs.open, category: 'AutoML' });
    }
  }
};

export default plugin;
