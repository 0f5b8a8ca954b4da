// @ts-check
/**
 * One job's timeline in the console: its history, its columns and its account, the
 * record `npm run ops -- show <session> --json` prints. Written as text, never markup.
 */

/**
 * @typedef {Record<string, unknown>} Row
 * @typedef {{ job: Row, account: Row, history: Row[] }} JobReport
 */

/** The columns a person looks at first; the others follow in the record's order. */
const FIRST_FACTS = [
  'stripe_session_id',
  'status',
  'phase',
  'attempts',
  'last_error',
  'package_slug',
  'deployment_id',
  'cell_id',
  'email',
];

export class Timeline {
  /** What was last rendered, so an unchanged report leaves the section alone. */
  #rendered = '';

  /** @param {HTMLElement} section the `#timeline` section of the console's page */
  constructor(section) {
    /** @param {string} selector */
    const part = (selector) => {
      const found = section.querySelector(selector);
      if (!(found instanceof HTMLElement)) throw new Error(`the timeline has no ${selector}`);
      return found;
    };
    this.section = section;
    this.command = part('#timeline-command');
    this.success = /** @type {HTMLAnchorElement} */ (part('#timeline-success'));
    this.job = part('#timeline-job');
    this.account = part('#timeline-account');
    this.history = part('#timeline-history');
  }

  hide() {
    this.section.hidden = true;
  }

  /**
   * @param {string} session
   * @param {JobReport} report
   */
  show(session, report) {
    const key = JSON.stringify(report);
    if (key === this.#rendered && !this.section.hidden) return;
    this.#rendered = key;
    this.#frame(session);
    const { trigger_payload: payload, ...job } = report.job;
    this.job.replaceChildren(
      ...facts({ ...job, trigger_payload: payload === null ? 'MISSING' : payload }),
    );
    this.account.replaceChildren(...facts(report.account));
    this.history.replaceChildren(...report.history.map(historyItem));
  }

  /**
   * @param {string} session
   * @param {string} message why there is no record to show
   */
  showMissing(session, message) {
    this.#rendered = '';
    this.#frame(session);
    this.job.replaceChildren(...facts({ session, error: message }));
    this.account.replaceChildren();
    this.history.replaceChildren();
  }

  /** @param {string} session */
  #frame(session) {
    this.section.hidden = false;
    this.command.textContent = `npm run ops -- show ${session} --json`;
    this.success.href = `/success?session_id=${encodeURIComponent(session)}`;
  }
}

/** @param {Row} event */
function historyItem(event) {
  const item = document.createElement('li');
  item.dataset.kind = String(event.kind);
  const when = document.createElement('time');
  when.dateTime = String(event.occurred_at);
  when.textContent = timeOf(String(event.occurred_at));
  item.append(
    when,
    text('strong', 'kind', String(event.kind)),
    text('span', 'move', `${event.from_status ?? '–'} → ${event.to_status ?? '–'}`),
    text('span', 'actor', String(event.actor ?? '')),
  );
  for (const name of ['reason', 'detail']) {
    const value = event[name];
    if (value === null || value === undefined) continue;
    item.append(text('span', name, typeof value === 'string' ? value : JSON.stringify(value)));
  }
  return item;
}

/** @param {Row} record */
function facts(record) {
  /** @param {string} name */
  const rank = (name) => {
    const index = FIRST_FACTS.indexOf(name);
    return index < 0 ? FIRST_FACTS.length : index;
  };
  const entries = Object.entries(record).sort(([a], [b]) => rank(a) - rank(b));
  return entries.flatMap(([name, value]) => [
    text('dt', '', name),
    text(
      'dd',
      '',
      value === null ? '–' : typeof value === 'object' ? JSON.stringify(value) : String(value),
    ),
  ]);
}

/**
 * @param {string} tag
 * @param {string} className
 * @param {string} content
 */
function text(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.textContent = content;
  return node;
}

/** @param {string} iso a timestamp as the database writes it; the local time of day */
export function timeOf(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString([], { hour12: false });
}
