/**
 * The table builders on real metrics.json files written by training (pr_curves
 * and the per-class history trimmed): fixtures/classifier.json is the demo
 * review classifier (heads sentiment and topic), classifier_f1.json a tiny
 * text classifier chosen on f1, image_classifier.json a tiny image one (heads
 * color and shape), llm_chat.json the demo support chat, llm_text.json a tiny
 * LLM whose base token accuracy is 0 (so its change in percent is missing).
 */
import classifier from './fixtures/classifier.json';
import classifierF1 from './fixtures/classifier_f1.json';
import imageClassifier from './fixtures/image_classifier.json';
import llmChat from './fixtures/llm_chat.json';
import llmText from './fixtures/llm_text.json';
import {
  ALL_ROW,
  Metrics,
  compareRows,
  comparisonRows,
  direction,
  formatChange,
  formatNumber,
  headNames,
  headRows,
  headline,
  isLLMMetrics,
  limitClasses,
  plotHead,
  plotStems,
  plotTitle,
  selection,
  selectionLine
} from '../metricsTables';

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('a head table (head_table)', () => {
  it('has a row per class, then (all) with the head figures', () => {
    expect(headNames(classifier)).toEqual(['sentiment', 'topic']);
    const rows = headRows(classifier, 'sentiment');
    expect(rows.map(r => r.class)).toEqual(['negative', 'neutral', 'positive', ALL_ROW]);
    expect(rows[0]).toEqual({
      class: 'negative',
      precision: 1,
      recall: 0.9736842105263158,
      f1: 0.9866666666666667,
      support: 38,
      balanced_accuracy: null,
      macro_f1: null,
      accuracy: null
    });
    const all = rows[3];
    expect(all.precision).toBeNull();
    expect(all.recall).toBeNull();
    expect(all.f1).toBeNull();
    // the (all) support is the labelled test rows: 38 + 39 + 40
    expect(all.support).toBe(117);
    expect(all.support).toBe(rows.slice(0, 3).reduce((n, r) => n + (r.support ?? 0), 0));
  });

  it('sums the head up as the file does: balanced accuracy = mean recall, macro F1 = mean F1', () => {
    const rows = headRows(classifier, 'sentiment');
    const classes = rows.filter(r => r.class !== ALL_ROW);
    const all = rows[rows.length - 1];
    expect(all.balanced_accuracy).toBe(classifier.test.heads.sentiment.balanced_accuracy);
    expect(all.balanced_accuracy).toBeCloseTo(mean(classes.map(r => r.recall!)), 12);
    expect(all.balanced_accuracy).toBeCloseTo((0.9736842105263158 + 1 + 0.95) / 3, 12);
    expect(all.macro_f1).toBeCloseTo(mean(classes.map(r => r.f1!)), 12);
    // accuracy: the confusion matrix's diagonal, 37 + 39 + 38 of 117
    expect(all.accuracy).toBeCloseTo(114 / 117, 12);
    expect(formatNumber(all.balanced_accuracy)).toBe('0.9746');
  });

  it('names the heads there are when asked for another', () => {
    expect(() => headRows(classifier, 'colour')).toThrow(
      "no head 'colour' in these metrics (heads: sentiment, topic)"
    );
    expect(() => headRows(llmChat, 'x')).toThrow('(heads: none)');
  });

  it('shows a few classes and says how many more, always keeping (all)', () => {
    const rows = headRows(classifier, 'topic');
    expect(rows).toHaveLength(6);
    const limited = limitClasses(rows, 3);
    expect(limited.more).toBe(2);
    expect(limited.rows.map(r => r.class)).toEqual(['price', 'quality', 'shipping', ALL_ROW]);
    expect(limitClasses(rows, 12)).toEqual({ rows, more: 0 });
  });
});

describe('the LLM table (llm_comparison)', () => {
  it('has base, tuned, change and change % per metric', () => {
    expect(isLLMMetrics(llmChat)).toBe(true);
    expect(isLLMMetrics(classifier)).toBe(false);
    const rows = comparisonRows(llmChat);
    expect(rows.map(r => r.metric)).toEqual(['loss', 'token_accuracy']);
    const [loss, accuracy] = rows;
    expect(loss.base).toBe(2.5730633079535496);
    expect(loss.tuned).toBe(llmChat.test.loss);
    expect(loss.change).toBeCloseTo(loss.tuned! - loss.base!, 12);
    expect(loss.change_percent).toBeCloseTo((100 * loss.change!) / loss.base!, 10);
    expect(accuracy.tuned).toBe(llmChat.test.token_accuracy);
    expect(formatChange(loss.change)).toBe('\u22120.5170');
    expect(formatChange(loss.change_percent, 2, '%')).toBe('\u221220.09%');
    expect(formatChange(accuracy.change_percent, 2, '%')).toBe('+17.90%');
  });

  it('leaves the change in percent empty when the base is 0', () => {
    const accuracy = comparisonRows(llmText)[1];
    expect(accuracy.base).toBe(0);
    expect(accuracy.change_percent).toBeNull();
    expect(formatChange(accuracy.change_percent, 2, '%')).toBe('');
    expect(formatNumber(accuracy.change_percent)).toBe('');
  });

  it('is empty for a classifier', () => {
    expect(comparisonRows(classifier)).toEqual([]);
  });
});

describe('the headline numbers (headline)', () => {
  it('are each head’s balanced accuracy, macro F1 and accuracy for classifiers', () => {
    expect(headline(classifier)).toEqual([
      { metric: 'sentiment/balanced_accuracy', value: 0.9745614035087721 },
      { metric: 'sentiment/macro_f1', value: 0.9746628679962014 },
      { metric: 'sentiment/accuracy', value: 0.9743589743589743 },
      { metric: 'topic/balanced_accuracy', value: 0.984 },
      { metric: 'topic/macro_f1', value: 0.9816666666666667 },
      { metric: 'topic/accuracy', value: 0.9824561403508771 }
    ]);
  });

  it('are the tuned numbers and their change for LLMs', () => {
    expect(headline(llmChat)).toEqual([
      { metric: 'loss', value: 2.0561024885654033 },
      { metric: 'loss change vs base', value: -0.5169608193881463 },
      { metric: 'token_accuracy', value: 0.5425065731814198 },
      { metric: 'token_accuracy change vs base', value: 0.08238387379491674 }
    ]);
  });

  it('fall back to the test loss when there is nothing else', () => {
    const bare: Metrics = { ...llmChat, comparison: undefined };
    expect(headline(bare)).toEqual([{ metric: 'loss', value: 2.0561024885654033 }]);
    expect(headline({})).toEqual([]);
  });
});

describe('versions side by side (compare_versions)', () => {
  it('puts the older version first and marks the better value of each row', () => {
    const table = compareRows(
      { version: 2, metrics: classifierF1 },
      { version: 1, metrics: classifier }
    );
    expect(table.columns).toEqual(['v1', 'v2']);
    expect(table.rows.map(r => r.metric)).toEqual(headline(classifier).map(e => e.metric));
    const sentiment = table.rows[0];
    expect(sentiment).toEqual({
      metric: 'sentiment/balanced_accuracy',
      values: [0.9745614035087721, 0.3333333333333333],
      direction: 'higher',
      better: 0
    });
    expect(table.rows.every(r => r.better === 0)).toBe(true);
  });

  it('leaves a number a version lacks empty, and marks nothing in that row', () => {
    const table = compareRows(
      { version: 1, metrics: classifier },
      { version: 3, metrics: imageClassifier }
    );
    expect(table.columns).toEqual(['v1', 'v3']);
    // the rows of v1's heads first, then those only v3 has
    expect(table.rows.map(r => r.metric)).toEqual([
      'sentiment/balanced_accuracy',
      'sentiment/macro_f1',
      'sentiment/accuracy',
      'topic/balanced_accuracy',
      'topic/macro_f1',
      'topic/accuracy',
      'color/balanced_accuracy',
      'color/macro_f1',
      'color/accuracy',
      'shape/balanced_accuracy',
      'shape/macro_f1',
      'shape/accuracy'
    ]);
    expect(table.rows[0].values).toEqual([0.9745614035087721, null]);
    expect(table.rows[6].values).toEqual([null, 0.95]);
    expect(table.rows.every(r => r.better === null)).toBe(true);
    expect(formatNumber(table.rows[6].values[0])).toBe('');
  });

  it('takes lower as better for loss and its change', () => {
    const table = compareRows({ version: 1, metrics: llmChat }, { version: 2, metrics: llmText });
    const byName = Object.fromEntries(table.rows.map(r => [r.metric, r]));
    expect(byName['loss'].direction).toBe('lower');
    expect(byName['loss'].values).toEqual([2.0561024885654033, 3.512436716180099]);
    expect(byName['loss'].better).toBe(0);
    // the loss fell more in v2 (-2.38 vs -0.52): lower is better
    expect(byName['loss change vs base'].better).toBe(1);
    expect(byName['token_accuracy'].direction).toBe('higher');
    expect(byName['token_accuracy'].better).toBe(0);
    expect(byName['token_accuracy change vs base'].better).toBe(1);
  });

  it('marks no winner for equal values or unknown directions', () => {
    const same = compareRows({ version: 1, metrics: classifier }, { version: 2, metrics: classifier });
    expect(same.rows.every(r => r.better === null)).toBe(true);
    expect(direction('tokens')).toBeNull();
    expect(direction('a/macro_f1')).toBe('higher');
  });

  it('is one column for one version', () => {
    const single = compareRows({ version: 4, metrics: llmChat });
    expect(single.columns).toEqual(['v4']);
    expect(single.rows.every(r => r.values.length === 1 && r.better === null)).toBe(true);
  });
});

describe('the selection', () => {
  it('says the rule, head, value, epoch and step', () => {
    expect(selection(classifier)).toEqual({
      rule: 'balanced_accuracy',
      label: 'sentiment',
      value: 0.9806722689075631,
      epoch: 3,
      step: 93,
      why: classifier.selection.why
    });
    expect(selectionLine(classifier)).toBe(
      "Chosen: epoch 3 (step 93), highest validation balanced_accuracy on head 'sentiment': 0.9807"
    );
    expect(selectionLine(classifierF1)).toBe(
      "Chosen: epoch 1 (step 6), highest validation f1 on head 'topic': 0.1000"
    );
  });

  it('says lowest for loss, without a head', () => {
    expect(selectionLine(llmChat)).toBe('Chosen: epoch 0.2469 (step 20), lowest validation loss: 2.1635');
    expect(selectionLine({})).toBe('');
  });
});

describe('plot titles', () => {
  it('name each plot the training writes', () => {
    const heads = headNames(classifier);
    const names = classifier.plots.map(p => p.replace(/^plots\//, ''));
    expect(names.map(n => plotTitle(n, heads))).toEqual([
      'PR curve, sentiment',
      'Confusion matrix, sentiment',
      'PR curve, topic',
      'Confusion matrix, topic',
      'Loss (training, validation)',
      'Validation metrics, sentiment',
      'Validation metrics, topic'
    ]);
    expect(plotTitle('token_accuracy.png')).toBe('Validation token accuracy');
    expect(plotTitle('learning_rate.png')).toBe('Learning rate');
    expect(names.map(n => plotHead(n, heads))).toEqual([
      'sentiment',
      'sentiment',
      'topic',
      'topic',
      null,
      'sentiment',
      'topic'
    ]);
  });

  it('map file-safe stems back to the head names', () => {
    expect(plotStems(['a/b', 'a_b', 'tox city'])).toEqual({ 'a/b': 'a_b', a_b: 'a_b_2', 'tox city': 'tox_city' });
    expect(plotTitle('pr_a_b_2.png', ['a/b', 'a_b'])).toBe('PR curve, a_b');
    expect(plotTitle('confusion_a_b.png', ['a/b', 'a_b'])).toBe('Confusion matrix, a/b');
    expect(plotTitle('pr_unknown.png')).toBe('PR curve, unknown');
  });
});
