import { fractionDone, isActive, progressLine } from '../jobs';
import { IJob } from '../models';
import { AutoMLModel, IAutoMLSource } from '../state';

function job(status: IJob['status'], progress: Record<string, unknown> = {}, id = 'j1'): IJob {
  return {
    id, version_id: 'v1', model_id: 'm1', model_name: 'reviews', version: 1, status,
    epoch: null, step: null, total_steps: null, progress, log_tail: '', error: null,
    notebook_path: null, executor: null, worker_id: null, pid: null, attempts: 0,
    cancel_requested: false, created_at: '2026-11-23T10:00:00Z', started_at: null,
    finished_at: null
  };
}

/** A source whose job list changes as the test says; it counts the calls. */
function source(jobs: IJob[][]): IAutoMLSource & { calls: Record<string, number> } {
  const calls: Record<string, number> = { datasets: 0, jobs: 0 };
  let n = 0;
  return {
    calls,
    datasets: async () => {
      calls.datasets++;
      return [];
    },
    snapshots: async () => [],
    models: async () => [],
    deployments: async () => [],
    jobs: async () => {
      calls.jobs++;
      return jobs[Math.min(n++, jobs.length - 1)];
    }
  };
}

describe('AutoMLModel', () => {
  it('polls jobs alone while they run, and everything once one ends', async () => {
    const running = job('running', { state: { step: 3, total_steps: 10 } });
    const done = job('succeeded');
    const fake = source([[running], [running], [done]]);
    const model = new AutoMLModel(fake);
    await model.refresh();
    expect(model.hasActiveWork).toBe(true);
    await model.poll();
    expect(fake.calls).toEqual({ datasets: 1, jobs: 2 });
    await model.poll(); // the job has ended: the model and its version changed too
    expect(fake.calls).toEqual({ datasets: 2, jobs: 4 });
    expect(model.hasActiveWork).toBe(false);
  });

  it('keeps the last list and shows the error when a load fails', async () => {
    const fake = source([[job('queued')]]);
    const model = new AutoMLModel(fake);
    await model.refresh();
    fake.jobs = async () => {
      throw new Error('store unavailable: database is locked');
    };
    jest.spyOn(console, 'error').mockImplementation(() => undefined);
    await model.poll();
    expect(model.jobs.error).toBe('store unavailable: database is locked');
    expect(model.jobs.items.map(j => j.status)).toEqual(['queued']);
  });

  it('polls while a deployment is loading, until it is complete', async () => {
    const model = new AutoMLModel(source([[]]));
    const deployment = {
      id: 'd1', name: 'reviews-v1', version_id: 'v1', model_id: 'm1', model_name: 'reviews',
      model_type: 'text_classification' as const, version: 1, status: 'deploying' as const,
      error: null, requests: 0, tokens: 0, errors: 0, created_at: '2026-11-23T10:00:00Z',
      deployed_at: null, undeployed_at: null, keys: [], metadata_only: false
    };
    model.addDeployment(deployment);
    expect(model.hasActiveWork).toBe(true);
    model.addDeployment({ ...deployment, status: 'complete' });
    expect(model.deployments.items).toHaveLength(1);
    expect(model.hasActiveWork).toBe(false);
  });

  it('reads a serving deployment again every SERVING_POLL_MS, so its counters follow its traffic', async () => {
    const fake = source([[]]);
    let requests = 3;
    const calls = { deployments: 0 };
    fake.deployments = async () => {
      calls.deployments++;
      return [{
        id: 'd1', name: 'reviews-v1', version_id: 'v1', model_id: 'm1', model_name: 'reviews',
        model_type: 'text_classification' as const, version: 1, status: 'complete' as const,
        error: null, requests, tokens: 0, errors: 0, created_at: '2026-11-23T10:00:00Z',
        deployed_at: null, undeployed_at: null, keys: [], metadata_only: false
      }];
    };
    const model = new AutoMLModel(fake);
    const start = Date.now();
    await model.refresh();
    expect(model.hasActiveWork).toBe(false);
    expect(model.shouldPoll(start + 1000)).toBe(false);
    expect(model.shouldPoll(Date.now() + AutoMLModel.SERVING_POLL_MS)).toBe(true);
    requests = 250; // a batch ran meanwhile
    await model.poll();
    expect(model.deployments.items[0].requests).toBe(250);
    expect(calls.deployments).toBe(2);
    expect(model.shouldPoll()).toBe(false); // just read

    const idle = new AutoMLModel(source([[]])); // nothing serves: nothing is polled
    await idle.refresh();
    expect(idle.shouldPoll(Date.now() + 10 * AutoMLModel.SERVING_POLL_MS)).toBe(false);
  });

  it('shows a queued job before the next poll', () => {
    const model = new AutoMLModel(source([[]]));
    model.addJob(job('queued', {}, 'new'));
    expect(model.jobs.items.map(j => j.id)).toEqual(['new']);
    expect(model.hasActiveWork).toBe(true);
  });
});

describe('job progress', () => {
  it('reads the runner report', () => {
    const state = { phase: 'training', step: 30, total_steps: 120, epoch: 1.25, max_epochs: 4,
                    loss: 0.51234, eta_seconds: 3725 };
    const running = job('running', { state });
    expect(progressLine(running)).toBe(
      'training · epoch 1.25 of 4 · step 30 of 120 · loss 0.5123 · ETA 1:02:05'
    );
    expect(fractionDone(running)).toBe(0.25);
    expect(isActive(running)).toBe(true);
    const finished = job('succeeded', { state });
    expect(progressLine(finished)).toBe('epoch 1.25 of 4 · step 30 of 120 · loss 0.5123');
    expect(fractionDone(finished)).toBe(1);
    expect(fractionDone(job('queued'))).toBe(0);
  });
});
