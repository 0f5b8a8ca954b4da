// @ts-check
/**
 * The local console's page: polls the runtime's `/console/api/` routes twice a second
 * while visible and renders the jobs, the selected job's timeline, the STUCK gauge,
 * the queue and the sandbox. Everything from the server is written as text, never as
 * markup.
 */

/**
 * @typedef {{ stripe_session_id: string, status: string, phase: string | null, attempts: number,
 *   last_error: string | null, package_slug: string | null, created_at: string, updated_at: string }} Job
 * @typedef {{ state: string, held: boolean, openSeconds: number, consecutiveFailures: number,
 *   threshold: number, reason: string | null }} Breaker
 * @typedef {{ stuck: number, queue: { visible: number, inFlight: number, deadLetters: number },
 *   breaker: Breaker,
 *   sandbox: { mode: string, modes: string[] } | null, statuses: string[],
 *   counts: Record<string, number>, packages: string[] }} Overview
 * @typedef {import('./timeline.js').JobReport} JobReport
 */

import { Timeline, timeOf } from './timeline.js';

const REFRESH_MS = 500;
const view = {
  connection: element('connection'),
  stuck: element('stuck'),
  stuckTile: element('stuck-tile'),
  queueVisible: element('queue-visible'),
  queueInFlight: element('queue-in-flight'),
  deadLetters: element('dead-letters'),
  dlqTile: element('dlq-tile'),
  breakerState: element('breaker-state'),
  breakerHint: element('breaker-hint'),
  breakerTile: element('breaker-tile'),
  sandboxMode: /** @type {HTMLSelectElement} */ (element('sandbox-mode')),
  sandboxHint: element('sandbox-hint'),
  checkout: /** @type {HTMLFormElement} */ (element('checkout')),
  checkoutPackage: /** @type {HTMLSelectElement} */ (element('checkout-package')),
  checkoutResult: element('checkout-result'),
  search: /** @type {HTMLInputElement} */ (element('search')),
  filters: element('filters'),
  jobs: /** @type {HTMLTableSectionElement} */ (element('jobs').querySelector('tbody')),
  jobsEmpty: element('jobs-empty'),
};
const timeline = new Timeline(element('timeline'));

const filtersLegend = /** @type {HTMLLegendElement} */ (view.filters.querySelector('legend'));

const selection = {
  /** '' for every status. */
  status: '',
  search: '',
  /** The session whose timeline is open; kept in the URL's fragment. */
  session: decodeURIComponent(window.location.hash.slice(1)),
};

/** What was last rendered, so an unchanged answer leaves the page (and its focus) alone. */
const rendered = { filters: '', jobs: '', packages: '', modes: '' };
/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;
/** One refresh at a time: a click during one asks for another right after it. */
let refreshing = false;
let refreshAgain = false;

/** @param {string} id */
function element(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the console page has no #${id}`);
  return found;
}

/**
 * @template T
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<T>}
 */
async function api(path, init) {
  const response = await fetch(path, {
    ...init,
    headers: { accept: 'application/json', 'content-type': 'application/json' },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ?? `${response.status} ${response.statusText}`);
  return body;
}

async function refresh() {
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  clearTimeout(timer);
  try {
    const query = new URLSearchParams();
    if (selection.status) query.set('status', selection.status);
    if (selection.search) query.set('search', selection.search);
    const [overview, list] = await Promise.all([
      /** @type {Promise<Overview>} */ (api('/console/api/overview')),
      /** @type {Promise<{ jobs: Job[] }>} */ (api(`/console/api/jobs?${query}`)),
    ]);
    renderOverview(overview);
    renderJobs(list.jobs);
    await refreshTimeline();
    view.connection.textContent = '';
    view.connection.classList.remove('down');
  } catch (error) {
    view.connection.textContent = `The local runtime is not answering (${messageOf(error)}); retrying.`;
    view.connection.classList.add('down');
  } finally {
    refreshing = false;
    if (refreshAgain) {
      refreshAgain = false;
      void refresh();
    } else {
      timer = setTimeout(tick, REFRESH_MS);
    }
  }
}

/** Polls only while someone can see the page. */
function tick() {
  if (document.hidden) timer = setTimeout(tick, REFRESH_MS);
  else void refresh();
}

/** @param {Overview} overview */
function renderOverview(overview) {
  view.stuck.textContent = String(overview.stuck);
  view.stuckTile.classList.toggle('alarm', overview.stuck > 0);
  view.queueVisible.textContent = String(overview.queue.visible);
  view.queueInFlight.textContent = String(overview.queue.inFlight);
  view.deadLetters.textContent = String(overview.queue.deadLetters);
  view.dlqTile.classList.toggle('alarm', overview.queue.deadLetters > 0);
  renderBreaker(overview.breaker);
  renderSandbox(overview.sandbox);
  renderPackages(overview.packages);
  renderFilters(overview.statuses, overview.counts);
}

/** @param {Breaker} breaker */
function renderBreaker(breaker) {
  const open = breaker.state === 'open';
  view.breakerState.textContent = open ? `open${breaker.held ? ' (held)' : ''}` : 'closed';
  view.breakerTile.classList.toggle('alarm', open);
  view.breakerHint.textContent = open
    ? `for ${breaker.openSeconds} s${breaker.reason ? ` · ${breaker.reason}` : ''} · one probe per reconcile`
    : `${breaker.consecutiveFailures} of ${breaker.threshold} failures in a row`;
}

/** @param {Overview['sandbox']} sandbox */
function renderSandbox(sandbox) {
  const modes = sandbox ? sandbox.modes.join() : '';
  if (modes !== rendered.modes) {
    rendered.modes = modes;
    view.sandboxMode.replaceChildren(...(sandbox?.modes ?? []).map((mode) => option(mode)));
  }
  view.sandboxMode.disabled = !sandbox;
  if (!sandbox) {
    view.sandboxHint.textContent = 'Off: triggers go to PROVISIONING_TRIGGER_URL.';
    return;
  }
  // Never under the hand of someone choosing.
  if (document.activeElement !== view.sandboxMode) view.sandboxMode.value = sandbox.mode;
  view.sandboxMode.dataset.mode = sandbox.mode;
}

/** @param {string[]} packages */
function renderPackages(packages) {
  if (packages.join() === rendered.packages) return;
  rendered.packages = packages.join();
  const chosen = view.checkoutPackage.value;
  view.checkoutPackage.replaceChildren(...packages.map((slug) => option(slug)));
  view.checkoutPackage.value = packages.includes(chosen) ? chosen : (packages[0] ?? '');
}

/**
 * @param {string[]} statuses
 * @param {Record<string, number>} counts
 */
function renderFilters(statuses, counts) {
  const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
  const choices = [['', `all ${total}`], ...statuses.map((s) => [s, `${s} ${counts[s] ?? 0}`])];
  const key = JSON.stringify([choices, selection.status]);
  if (key === rendered.filters) return;
  rendered.filters = key;
  view.filters.replaceChildren(
    filtersLegend,
    ...choices.map(([status = '', label = '']) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = label;
      button.dataset.status = status;
      button.setAttribute('aria-pressed', String(status === selection.status));
      button.addEventListener('click', () => {
        selection.status = status;
        void refresh();
      });
      return button;
    }),
  );
}

/** @param {Job[]} jobs */
function renderJobs(jobs) {
  const key = JSON.stringify([jobs, selection.session]);
  if (key === rendered.jobs) return;
  rendered.jobs = key;
  view.jobsEmpty.hidden = jobs.length > 0;
  view.jobs.replaceChildren(
    ...jobs.map((job) => {
      const row = document.createElement('tr');
      row.dataset.session = job.stripe_session_id;
      row.dataset.status = job.status;
      if (job.stripe_session_id === selection.session) row.setAttribute('aria-selected', 'true');
      const open = document.createElement('button');
      open.type = 'button';
      open.className = 'session';
      open.textContent = job.stripe_session_id;
      open.addEventListener('click', () => select(job.stripe_session_id));
      row.append(
        cell('Session', open),
        cell('Status', badge(job.status)),
        cell('Phase', job.phase ?? ''),
        cell('Attempts', String(job.attempts)),
        cell('Last error', job.last_error ?? ''),
        cell('Updated', timeOf(job.updated_at)),
      );
      return row;
    }),
  );
}

/** @param {string} session */
function select(session) {
  selection.session = session;
  window.history.replaceState(null, '', `#${encodeURIComponent(session)}`);
  void refresh();
}

async function refreshTimeline() {
  const session = selection.session;
  if (!session) {
    timeline.hide();
    return;
  }
  /** @type {JobReport | undefined} */
  const report = await api(`/console/api/jobs/${encodeURIComponent(session)}`).catch((error) => {
    // A session from an old link, or a job not recorded yet: say so where the timeline goes.
    timeline.showMissing(session, messageOf(error));
    return undefined;
  });
  if (report) timeline.show(session, report);
}

/**
 * @param {string} label
 * @param {Node | string} content
 */
function cell(label, content) {
  const td = document.createElement('td');
  td.dataset.label = label;
  td.append(content);
  return td;
}

/** @param {string} status */
function badge(status) {
  const span = document.createElement('span');
  span.className = `badge ${status}`;
  span.textContent = status;
  return span;
}

/** @param {string} value */
function option(value) {
  const choice = document.createElement('option');
  choice.value = value;
  choice.textContent = value;
  return choice;
}

/** @param {unknown} error */
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

view.search.addEventListener('input', () => {
  selection.search = view.search.value.trim();
  void refresh();
});

view.sandboxMode.addEventListener('change', async () => {
  const mode = view.sandboxMode.value;
  try {
    /** @type {{ mode: string }} */
    const answer = await api('/console/api/sandbox/mode', {
      method: 'PUT',
      body: JSON.stringify({ mode }),
    });
    view.sandboxHint.textContent = `Switched to ${answer.mode}.`;
  } catch (error) {
    view.sandboxHint.textContent = `Not switched: ${messageOf(error)}`;
  }
  view.sandboxMode.blur();
  void refresh();
});

view.checkout.addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    /** @type {{ session_id: string, success_url: string }} */
    const sent = await api('/console/api/checkouts', {
      method: 'POST',
      body: JSON.stringify({ package: view.checkoutPackage.value }),
    });
    view.checkoutResult.textContent = `Sent ${sent.session_id}.`;
    select(sent.session_id);
  } catch (error) {
    view.checkoutResult.textContent = `Not sent: ${messageOf(error)}`;
  }
});

window.addEventListener('hashchange', () =>
  select(decodeURIComponent(window.location.hash.slice(1))),
);
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) void refresh();
});

void refresh();
