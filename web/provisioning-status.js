// @ts-check
/**
 * <provisioning-status>: what the checkout success page shows while the tenant is made.
 *
 *   <script type="module" src="/provisioning-status.js"></script>
 *   <provisioning-status status-url="https://api.example.com/api/provisioning/status"></provisioning-status>
 *
 * It polls the status route (`GET …?session_id=cs_…`, answering
 * `{"session_id","state","phase"?}`) and shows `Request sent`, `Queued`,
 * `Running: <phase>`, `Ready` or `Failed: …`, announced to screen readers. It polls
 * every second while things move, slows down while they do not, backs off further
 * while the API cannot be reached (showing "Still working"), and stops on `ready` or
 * `failed`. One file, no dependencies, no build step.
 *
 * Attributes: `session-id` (default: the page's `?session_id=`), `status-url`
 * (default `/api/provisioning/status`), `poll-interval` and `max-poll-interval` (ms).
 * It reflects the shown state as its `state` attribute and fires a bubbling
 * `provisioning-status-change` event with `{state, phase}` on every change.
 * Styling: the `--provisioning-status-*` custom properties below, the parts `card`,
 * `label`, `detail`, `note`, `steps`, and the slots `ready` and `failed` for your own
 * next step (a link to the dashboard, a support address).
 */

/** @typedef {'queued' | 'running' | 'ready' | 'failed' | 'unknown'} CoarseState */
/** @typedef {CoarseState | 'invalid'} ShownState */
/** @typedef {{ state: CoarseState, phase: string | undefined }} StatusAnswer */

const COARSE_STATES = ['queued', 'running', 'ready', 'failed', 'unknown'];
const TERMINAL = new Set(['ready', 'failed', 'invalid']);
/** Same-state answers polled at the base interval before slowing down. */
const PATIENCE = 5;
const REQUEST_TIMEOUT_MS = 8_000;

const STYLES = `
  :host {
    display: block;
    font: var(--provisioning-status-font, inherit);
    color: var(--provisioning-status-color, #1f2933);
  }
  [part='card'] {
    background: var(--provisioning-status-background, #fff);
    border: 1px solid var(--provisioning-status-border, #d9dee5);
    border-radius: var(--provisioning-status-radius, 12px);
    padding: var(--provisioning-status-padding, 1rem 1.25rem);
  }
  [part='label'] {
    display: flex;
    align-items: center;
    gap: 0.6em;
    margin: 0;
    font-size: 1.15em;
    font-weight: 600;
  }
  .dot {
    flex: none;
    width: 0.7em;
    height: 0.7em;
    border-radius: 50%;
    background: var(--provisioning-status-accent, #4f46e5);
    animation: pulse 1.2s ease-in-out infinite;
  }
  :host([state='ready']) .dot { background: var(--provisioning-status-ready, #15803d); animation: none; }
  :host([state='failed']) .dot, :host([state='invalid']) .dot {
    background: var(--provisioning-status-failed, #b91c1c); animation: none;
  }
  [part='detail'], [part='note'] { margin: 0.35em 0 0; color: var(--provisioning-status-muted, #5f6b7a); }
  [part='note']:empty { display: none; }
  [part='steps'] { display: flex; gap: 0.35em; margin: 0.9em 0 0; padding: 0; list-style: none; }
  [part='steps'] li {
    flex: 1;
    height: 0.3em;
    border-radius: 0.15em;
    background: var(--provisioning-status-track, #e4e7eb);
  }
  [part='steps'] li.done { background: var(--provisioning-status-accent, #4f46e5); }
  :host([state='ready']) [part='steps'] li.done { background: var(--provisioning-status-ready, #15803d); }
  :host([state='failed']) [part='steps'] li.done { background: var(--provisioning-status-failed, #b91c1c); }
  slot { display: none; }
  ::slotted(*) { margin-bottom: 0; }
  :host([state='ready']) slot[name='ready'], :host([state='failed']) slot[name='failed'] {
    display: block;
    margin-top: 0.6em;
  }
  @keyframes pulse { 50% { opacity: 0.35; } }
  @media (prefers-reduced-motion: reduce) { .dot { animation: none; } }
`;

const MARKUP = `
<div part="card">
  <div role="status" aria-live="polite" aria-atomic="true">
    <p part="label"><span class="dot" aria-hidden="true"></span><span class="text"></span></p>
    <p part="detail"></p>
    <p part="note"></p>
  </div>
  <ol part="steps" aria-hidden="true"><li></li><li></li><li></li><li></li></ol>
  <slot name="ready"></slot>
  <slot name="failed"></slot>
</div>`;

/** How many of the four steps each state fills; a failure keeps the steps it reached. */
/** @type {Map<ShownState, number>} */
const STEPS_DONE = new Map([
  ['unknown', 1],
  ['queued', 2],
  ['running', 3],
  ['ready', 4],
]);

/** @type {CSSStyleSheet | undefined} */
let shared;
/** One sheet for every instance on the page. */
function sheet() {
  if (!shared) {
    shared = new CSSStyleSheet();
    shared.replaceSync(STYLES);
  }
  return shared;
}

export class ProvisioningStatus extends HTMLElement {
  static observedAttributes = ['session-id', 'status-url'];

  /** @type {ShownState} */
  #state = 'unknown';
  /** @type {string | undefined} */
  #phase;
  /** The last phase seen while running: what a failure is reported against. */
  /** @type {string | undefined} */
  #lastPhase;
  /** Transport failures in a row (network error, timeout, 5xx, an answer that is not ours). */
  #failures = 0;
  /** Answers in a row that changed nothing. */
  #unchanged = 0;
  #stepsDone = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #timer;
  /** @type {AbortController | undefined} */
  #inFlight;
  /** Bumped on every start and stop, so a late answer of an earlier run is ignored. */
  #run = 0;
  #started = false;
  /** @type {Record<'text' | 'detail' | 'note', HTMLElement>} */
  #view;
  /** @type {NodeListOf<HTMLLIElement>} */
  #steps;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = MARKUP;
    // A constructed sheet, not a <style> element: pages with a strict CSP need no 'unsafe-inline'.
    root.adoptedStyleSheets = [sheet()];
    this.#view = {
      text: /** @type {HTMLElement} */ (root.querySelector('.text')),
      detail: /** @type {HTMLElement} */ (root.querySelector("[part='detail']")),
      note: /** @type {HTMLElement} */ (root.querySelector("[part='note']")),
    };
    this.#steps = root.querySelectorAll('li');
  }

  /** The state shown now: a coarse state, or `invalid` when the route refused the session. */
  get state() {
    return this.#state;
  }

  connectedCallback() {
    this.#start();
  }

  disconnectedCallback() {
    this.#stop();
  }

  /**
   * @param {string} _name
   * @param {string | null} before
   * @param {string | null} after
   */
  attributeChangedCallback(_name, before, after) {
    // An upgrade reports the initial attributes before connectedCallback starts it.
    if (this.#started && this.isConnected && before !== after) this.#start();
  }

  #start() {
    this.#stop();
    this.#started = true;
    this.#failures = 0;
    this.#unchanged = 0;
    this.#lastPhase = undefined;
    this.#show('unknown', undefined, '');
    if (!this.#sessionId()) {
      this.#show('invalid', undefined, '');
      return;
    }
    void this.#poll(this.#run);
  }

  #stop() {
    this.#run += 1;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#inFlight?.abort();
    this.#inFlight = undefined;
  }

  #sessionId() {
    return (
      this.getAttribute('session-id') ??
      new URLSearchParams(window.location.search).get('session_id') ??
      ''
    );
  }

  #statusUrl() {
    const url = new URL(
      this.getAttribute('status-url') || '/api/provisioning/status',
      document.baseURI,
    );
    url.searchParams.set('session_id', this.#sessionId());
    return url;
  }

  /** @param {string} name @param {number} fallback */
  #millis(name, fallback) {
    const value = Number(this.getAttribute(name));
    return Number.isFinite(value) && value >= 250 ? value : fallback;
  }

  /** @param {number} run */
  async #poll(run) {
    const answer = await this.#ask();
    if (run !== this.#run) return;
    if (answer === 'transient') {
      this.#failures += 1;
      this.#view.note.textContent = 'Still working… reconnecting to check on it.';
    } else if (answer === 'refused') {
      this.#show('invalid', undefined, '');
    } else {
      this.#failures = 0;
      const changed = answer.state !== this.#state || answer.phase !== this.#phase;
      this.#unchanged = changed ? 0 : this.#unchanged + 1;
      if (answer.state === 'running' && answer.phase) this.#lastPhase = answer.phase;
      this.#show(answer.state, answer.phase, '');
    }
    if (TERMINAL.has(this.#state)) return;
    this.#timer = setTimeout(() => void this.#poll(run), this.#delay());
  }

  /**
   * Quick while things move, slower while they do not, slower still while the API is
   * unreachable; with jitter, so many open pages never poll in step.
   */
  #delay() {
    const base = this.#millis('poll-interval', 1_000);
    const max = Math.max(base, this.#millis('max-poll-interval', 10_000));
    const wanted =
      this.#failures > 0
        ? base * 2 ** this.#failures
        : base * 1.5 ** Math.max(0, this.#unchanged - PATIENCE);
    return Math.min(max, wanted) * (0.85 + Math.random() * 0.3);
  }

  /** @returns {Promise<StatusAnswer | 'transient' | 'refused'>} */
  async #ask() {
    const controller = new AbortController();
    this.#inFlight = controller;
    const timeout = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    try {
      const response = await fetch(this.#statusUrl(), {
        headers: { accept: 'application/json' },
        cache: 'no-store',
        credentials: 'omit',
        signal: controller.signal,
      });
      // 400: the route refused the session id; asking again cannot change that.
      if (response.status === 400) return 'refused';
      if (!response.ok) return 'transient';
      return parseAnswer(await response.json());
    } catch {
      return 'transient';
    } finally {
      clearTimeout(timeout);
      if (this.#inFlight === controller) this.#inFlight = undefined;
    }
  }

  /**
   * @param {ShownState} state
   * @param {string | undefined} phase
   * @param {string} note
   */
  #show(state, phase, note) {
    const changed = state !== this.#state || phase !== this.#phase || !this.hasAttribute('state');
    this.#state = state;
    this.#phase = phase;
    this.#view.note.textContent = note;
    if (!changed) return;
    const [label, detail] = this.#words(state, phase);
    this.#view.text.textContent = label;
    this.#view.detail.textContent = detail;
    this.setAttribute('state', state);
    this.#stepsDone = STEPS_DONE.get(state) ?? Math.max(1, this.#stepsDone);
    this.#steps.forEach((step, index) => {
      step.classList.toggle('done', index < this.#stepsDone);
    });
    this.dispatchEvent(
      new CustomEvent('provisioning-status-change', {
        bubbles: true,
        composed: true,
        detail: { state, phase },
      }),
    );
  }

  /**
   * @param {ShownState} state
   * @param {string | undefined} phase
   * @returns {[string, string]}
   */
  #words(state, phase) {
    switch (state) {
      case 'unknown':
        return ['Request sent', 'Waiting for the payment to be confirmed.'];
      case 'queued':
        return ['Queued', 'Your workspace is next in line.'];
      case 'running':
        return [phase ? `Running: ${phase}` : 'Running', 'Setting up your workspace.'];
      case 'ready':
        return ['Ready', 'Your workspace is ready.'];
      case 'failed': {
        const where = phase ?? this.#lastPhase;
        return [
          `Failed: ${where ? `stopped at ${where}` : 'setup could not be completed'}`,
          'Our team has been alerted and will finish it for you.',
        ];
      }
      case 'invalid':
        return ['Failed: this page does not name a valid checkout session', ''];
    }
  }
}

/**
 * The status route's answer, or 'transient' for anything else (a proxy's error page,
 * a state this version does not know yet): asking again later is the safe reading.
 * @param {unknown} body
 * @returns {StatusAnswer | 'transient'}
 */
function parseAnswer(body) {
  if (typeof body !== 'object' || body === null) return 'transient';
  const { state, phase } = /** @type {{ state?: unknown, phase?: unknown }} */ (body);
  if (typeof state !== 'string' || !COARSE_STATES.includes(state)) return 'transient';
  return {
    state: /** @type {CoarseState} */ (state),
    phase: typeof phase === 'string' && phase ? phase : undefined,
  };
}

if (!customElements.get('provisioning-status')) {
  customElements.define('provisioning-status', ProvisioningStatus);
}
