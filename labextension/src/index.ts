import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Clipboard, ICommandPalette } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

import automlSvg from '../style/icons/automl.svg';
import { call } from './api';
import { IJob } from './models';
import { AutoMLPanel } from './panel';

/** Command ids. */
export namespace CommandIDs {
  export const open = 'jupyter-automl:open';
}

/** The id of the sidebar widget (also its tab's `data-id`). */
export const SIDEBAR_ID = 'jupyter-automl-sidebar';

const PLUGIN_ID = 'jupyter-automl:plugin';

export const automlIcon = new LabIcon({
  name: 'jupyter-automl:automl',
  svgstr: automlSvg
});

/**
 * Open a job's executed notebook: the server sends it, a copy goes into the
 * reports folder under the server's root (the executed notebook itself lies in
 * the AutoML data folder, which JupyterLab may not reach), and the document
 * manager opens the copy. A failed job's notebook shows where it failed.
 */
async function openReport(
  app: JupyterFrontEnd,
  docManager: IDocumentManager,
  folder: string,
  job: IJob
): Promise<void> {
  const notebook = await call('get', '/automl/api/models/{model}/versions/{version}/notebook', {
    path: { model: job.model_name, version: job.version }
  });
  const contents = app.serviceManager.contents;
  await contents.save(folder, { type: 'directory' });
  const path = `${folder}/${job.model_name}-v${job.version}-report.ipynb`;
  await contents.save(path, { type: 'notebook', format: 'json', content: notebook });
  docManager.openOrReveal(path);
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'AutoML sidebar: datasets, snapshots, models, training jobs and deployments.',
  autoStart: true,
  requires: [ILabShell, IDocumentManager],
  optional: [ICommandPalette, ILayoutRestorer, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    shell: ILabShell,
    docManager: IDocumentManager,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null
  ) => {
    let reportsFolder = 'automl-reports';
    const panel = new AutoMLPanel({
      actions: {
        openReport: job => openReport(app, docManager, reportsFolder, job),
        copy: text => Clipboard.copyToSystem(text),
        baseUrl: PageConfig.getBaseUrl()
      }
    });
    panel.id = SIDEBAR_ID;
    panel.title.icon = automlIcon;
    panel.title.caption = 'AutoML';
    panel.title.label = ''; // the sidebar shows the icon; the caption names it
    shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, SIDEBAR_ID);
    }
    if (settingRegistry) {
      const apply = (settings: ISettingRegistry.ISettings) => {
        panel.refreshInterval = settings.get('refreshInterval').composite as number;
        reportsFolder = settings.get('reportsFolder').composite as string;
      };
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          apply(settings);
          settings.changed.connect(apply);
        })
        .catch(reason => console.error('jupyter-automl: settings failed to load', reason));
    }

    app.commands.addCommand(CommandIDs.open, {
      label: 'Open AutoML',
      caption: 'Show the AutoML sidebar',
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
