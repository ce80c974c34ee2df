import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Clipboard, ICommandPalette, InputDialog } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { ILauncher } from '@jupyterlab/launcher';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

import automlSvg from '../style/icons/automl.svg';
import { call } from './api';
import { isActive } from './jobs';
import { IJob } from './models';
import { playgroundNotebook } from './playgroundNotebook';
import { AutoMLPanel } from './panel';
import { PanelForm } from './state';

/** Command ids. */
export namespace CommandIDs {
  export const open = 'jupyter-automl:open';
  export const upload = 'jupyter-automl:upload-dataset';
  export const newModel = 'jupyter-automl:new-model';
  export const openReport = 'jupyter-automl:open-training-report';
  export const openPlayground = 'jupyter-automl:open-chat-playground';
}

/** The id of the sidebar widget (also its tab's `data-id`). */
export const SIDEBAR_ID = 'jupyter-automl-sidebar';

const PLUGIN_ID = 'jupyter-automl:plugin';

export const automlIcon = new LabIcon({
  name: 'jupyter-automl:automl',
  svgstr: automlSvg
});

/** Save a notebook under the server's root (making its folder) and open it. */
async function saveAndOpen(
  app: JupyterFrontEnd,
  docManager: IDocumentManager,
  folder: string,
  name: string,
  notebook: unknown
): Promise<void> {
  const contents = app.serviceManager.contents;
  await contents.save(folder, { type: 'directory' });
  const path = `${folder}/${name}`;
  await contents.save(path, { type: 'notebook', format: 'json', content: notebook });
  docManager.openOrReveal(path);
}

/**
 * Open a version's executed training notebook: the server sends it, a copy
 * goes into the reports folder under the server's root (the executed notebook
 * itself lies in the AutoML data folder, which JupyterLab may not reach), and
 * the document manager opens the copy. A failed job's notebook shows where it
 * failed.
 */
async function openReport(
  app: JupyterFrontEnd,
  docManager: IDocumentManager,
  folder: string,
  model: string,
  version: number
): Promise<void> {
  const notebook = await call('get', '/automl/api/models/{model}/versions/{version}/notebook', {
    path: { model, version }
  });
  await saveAndOpen(app, docManager, folder, `${model}-v${version}-report.ipynb`, notebook);
}

/** Ask which of the given versions to act on ("name vN"); null when cancelled. */
async function pickVersion(
  title: string,
  versions: { model: string; version: number }[]
): Promise<{ model: string; version: number } | null> {
  if (!versions.length) {
    await InputDialog.getItem({ title, items: ['(none yet)'] });
    return null;
  }
  const labels = versions.map(v => `${v.model} v${v.version}`);
  const answer = await InputDialog.getItem({ title, items: labels });
  const index = answer.button.accept && answer.value !== null ? labels.indexOf(answer.value) : -1;
  return index >= 0 ? versions[index] : null;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'AutoML sidebar: datasets, snapshots, models, training jobs and deployments.',
  autoStart: true,
  requires: [ILabShell, IDocumentManager],
  optional: [ICommandPalette, ILayoutRestorer, ISettingRegistry, ILauncher],
  activate: (
    app: JupyterFrontEnd,
    shell: ILabShell,
    docManager: IDocumentManager,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    launcher: ILauncher | null
  ) => {
    let reportsFolder = 'automl-reports';
    let playgroundsFolder = 'automl-playgrounds';
    const panel = new AutoMLPanel({
      actions: {
        openReport: (model, version) =>
          openReport(app, docManager, reportsFolder, model, version),
        openPlayground: (model, version) =>
          saveAndOpen(
            app,
            docManager,
            playgroundsFolder,
            `${model}-v${version}-playground.ipynb`,
            playgroundNotebook(model, version)
          ),
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
        panel.defaultModelType = settings.get('defaultModelType').composite as string;
        reportsFolder = settings.get('reportsFolder').composite as string;
        playgroundsFolder = settings.get('playgroundsFolder').composite as string;
      };
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          apply(settings);
          settings.changed.connect(apply);
        })
        .catch(reason => console.error('jupyter-automl: settings failed to load', reason));
    }

    const show = () => {
      shell.activateById(panel.id);
      // Run from the modal command palette, a command is followed by the palette
      // re-activating the main area's current widget (posted in this same frame,
      // after our own activation). Take the focus back after both, so keyboard
      // users land in the panel they asked for.
      requestAnimationFrame(() => panel.focusContent());
    };
    const icon = (args: { isPalette?: unknown }) => (args.isPalette ? undefined : automlIcon);
    app.commands.addCommand(CommandIDs.open, {
      label: 'Open AutoML',
      caption: 'Show the AutoML sidebar',
      icon,
      execute: show
    });
    /** A command that opens one of the panel's forms (also a launcher card). */
    const formCommand = (id: string, form: PanelForm, label: string, caption: string) =>
      app.commands.addCommand(id, {
        label: args => (args['isLauncher'] ? label : `AutoML: ${label}`),
        caption,
        icon,
        execute: () => {
          panel.model.showForm(form);
          show();
        }
      });
    formCommand(
      CommandIDs.upload,
      'upload',
      'Upload dataset',
      'Upload a CSV (or a zip of images), validate it and freeze it into a snapshot'
    );
    formCommand(
      CommandIDs.newModel,
      'new-model',
      'New model',
      'Create a model from a snapshot and a base model, and train it'
    );
    /**
     * A command on one version: the version given as arguments (`model`,
     * `version`), or else picked from the jobs that `eligible` accepts.
     */
    const versionCommand = (
      id: string,
      label: string,
      caption: string,
      question: string,
      eligible: (job: IJob) => boolean,
      act: (model: string, version: number) => Promise<void>
    ) =>
      app.commands.addCommand(id, {
        label,
        caption,
        execute: async args => {
          let target: { model: string; version: number } | null = null;
          if (typeof args['model'] === 'string' && typeof args['version'] === 'number') {
            target = { model: args['model'], version: args['version'] };
          } else {
            await panel.model.refresh();
            target = await pickVersion(
              question,
              panel.model.jobs.items
                .filter(eligible)
                .map(j => ({ model: j.model_name, version: j.version }))
            );
          }
          if (target) {
            await act(target.model, target.version);
          }
        }
      });
    versionCommand(
      CommandIDs.openReport,
      'AutoML: Open training report',
      "Open a version's executed training notebook",
      'Open the training report of',
      job => !isActive(job),
      panel.actions.openReport
    );
    const isLLM = (name: string) =>
      panel.model.models.items.some(m => m.name === name && m.model_type.startsWith('llm_'));
    versionCommand(
      CommandIDs.openPlayground,
      'AutoML: Open chat playground notebook',
      'A notebook with the chat widget for a trained LLM version',
      'Chat with',
      job => job.status === 'succeeded' && isLLM(job.model_name),
      panel.actions.openPlayground
    );
    if (palette) {
      for (const command of [
        CommandIDs.open,
        CommandIDs.upload,
        CommandIDs.newModel,
        CommandIDs.openReport,
        CommandIDs.openPlayground
      ]) {
        palette.addItem({ command, category: 'AutoML' });
      }
    }
    if (launcher) {
      launcher.add({ command: CommandIDs.upload, category: 'AutoML', rank: 1 });
      launcher.add({ command: CommandIDs.newModel, category: 'AutoML', rank: 2 });
    }
  }
};

export default plugin;
