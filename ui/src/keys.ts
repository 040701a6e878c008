// API keys: make one with scopes and the addresses it may be used from (its secret
// is shown once, with a copy button), list them, revoke one. These calls need a key
// with the `keys` scope; the sign-up key has it.

import { ApiError, api, errorText } from './api';
import { h, setText } from './dom';
import { dateTime } from './format';
import { revealSecret } from './reveal';
import { type ApiKeyInfo, SCOPES, type Scope } from './types';

type Notify = (text: string, kind?: 'ok' | 'error' | 'info') => void;

const DEFAULT_SCOPES: ReadonlySet<Scope> = new Set(['read', 'trade']);

export class KeysPanel {
  private keys: ApiKeyInfo[] = [];
  private armed: string | null = null; // the key whose Revoke was clicked once
  private readonly label = h('input', {
    class: 'input',
    type: 'text',
    maxlength: 64,
    placeholder: 'Label',
    'aria-label': 'Key label',
    'data-testid': 'key-label',
  });
  private readonly ips = h('input', {
    class: 'input',
    type: 'text',
    placeholder: 'Allowed IPs (any if empty): 10.0.0.0/8, 2001:db8::1',
    'aria-label': 'Allowed IP addresses',
    'data-testid': 'key-ips',
  });
  private readonly scopeBoxes = new Map<Scope, HTMLInputElement>();
  private readonly create = h(
    'button',
    { type: 'submit', class: 'btn small', 'data-testid': 'key-create' },
    'Create key',
  );
  private readonly error = h('div', { class: 'field-error', 'data-testid': 'key-error', role: 'alert' });
  private readonly shown = h('div', { hidden: true, 'data-testid': 'key-reveal' });
  private readonly list = h('div', { class: 'keys-list', 'data-testid': 'key-list' });

  constructor(
    root: HTMLElement,
    private readonly notify: Notify,
  ) {
    const scopes = SCOPES.map((scope) => {
      const box = h('input', { type: 'checkbox', 'data-testid': `key-scope-${scope}` });
      box.checked = DEFAULT_SCOPES.has(scope);
      this.scopeBoxes.set(scope, box);
      return h('label', { class: 'check' }, box, scope);
    });
    const form = h(
      'form',
      { class: 'key-form-new', novalidate: true, 'data-testid': 'key-form' },
      this.label,
      h('span', { class: 'scopes' }, ...scopes),
      this.ips,
      this.create,
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.createKey();
    });
    this.list.addEventListener('click', (ev) => {
      const btn = (ev.target as HTMLElement).closest<HTMLButtonElement>('button[data-revoke]');
      if (btn?.dataset.revoke) void this.revoke(btn.dataset.revoke, btn);
    });
    root.append(form, this.error, this.shown, this.list);
  }

  async refresh(): Promise<void> {
    try {
      const keys = await api.keys();
      this.keys = Array.isArray(keys) ? keys : [];
      setText(this.error, '');
    } catch (e) {
      this.keys = [];
      setText(this.error, keysRefusal(e));
    }
    this.render();
  }

  /** The secret leaves the page, not only the view. */
  private forgetSecret(): void {
    this.shown.hidden = true;
    this.shown.replaceChildren();
  }

  clear(): void {
    this.keys = [];
    this.forgetSecret();
    setText(this.error, '');
    this.render();
  }

  private async createKey(): Promise<void> {
    setText(this.error, '');
    const scopes = SCOPES.filter((scope) => this.scopeBoxes.get(scope)?.checked);
    const label = this.label.value.trim();
    if (!label) return void setText(this.error, 'Give the key a label.');
    if (!scopes.length) return void setText(this.error, 'Choose at least one scope.');
    const allowed = this.ips.value
      .split(/[\s,]+/)
      .map((ip) => ip.trim())
      .filter((ip) => ip !== '');
    this.create.disabled = true;
    try {
      const made = await api.createKey({ label, scopes, allowed_ips: allowed });
      this.shown.replaceChildren(
        revealSecret(
          `Key ${made.key_id} (${made.label}), shown only this once:`,
          made.api_key,
          'Copy it now: only its hash is kept.',
          () => this.forgetSecret(),
          { secret: 'key-secret', dismiss: 'key-secret-dismiss' },
        ),
      );
      this.shown.hidden = false;
      this.label.value = '';
      this.ips.value = '';
      this.notify(`Key ${made.key_id} created`, 'ok');
    } catch (e) {
      setText(this.error, e instanceof ApiError && e.status === 403 ? keysRefusal(e) : errorText(e));
    } finally {
      this.create.disabled = false;
      await this.refresh();
    }
  }

  private async revoke(keyId: string, btn: HTMLButtonElement): Promise<void> {
    if (this.armed !== keyId) {
      this.armed = keyId; // a second click confirms
      this.render();
      return;
    }
    this.armed = null;
    btn.disabled = true;
    try {
      await api.revokeKey(keyId);
      this.notify(`Key ${keyId} revoked`, 'ok');
    } catch (e) {
      this.notify(`Revoke failed: ${errorText(e)}`, 'error');
    }
    await this.refresh();
  }

  private render(): void {
    if (!this.keys.length) {
      this.list.replaceChildren(h('div', { class: 'empty' }, ''));
      return;
    }
    const rows = this.keys.map((key) =>
      h(
        'tr',
        { 'data-testid': 'key-row', 'data-key-id': key.key_id },
        h('td', { class: 'mono' }, key.key_id),
        h('td', {}, key.label),
        h('td', {}, key.scopes.join(' ')),
        h('td', { class: 'mono' }, key.allowed_ips.length ? key.allowed_ips.join(', ') : 'any'),
        h('td', {}, dateTime(key.created_at)),
        h(
          'td',
          { class: 'num' },
          h(
            'button',
            { type: 'button', class: 'btn tiny', 'data-revoke': key.key_id, 'data-testid': `revoke-${key.key_id}` },
            this.armed === key.key_id ? 'Confirm revoke' : 'Revoke',
          ),
        ),
      ),
    );
    const head = ['Id', 'Label', 'Scopes', 'Allowed IPs', 'Created', ''].map((t) => h('th', {}, t));
    this.list.replaceChildren(
      h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, ...head)), h('tbody', {}, ...rows)),
    );
  }
}

function keysRefusal(e: unknown): string {
  if (e instanceof ApiError && e.code === 'FORBIDDEN_SCOPE')
    return 'This key cannot manage keys (it lacks the keys scope).';
  return `Could not load your keys: ${errorText(e)}`;
}
