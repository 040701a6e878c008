// Sign up, paste a key, sign out. The key lives in localStorage (session.ts).

import { ApiError, api, errorText } from './api';
import { h, setText } from './dom';
import { revealSecret } from './reveal';
import { apiKey, onApiKeyChange, setApiKey } from './session';

export class AccountBar {
  private readonly root: HTMLElement;
  private readonly error = h('span', { class: 'account-error', 'data-testid': 'account-error', role: 'alert' });
  private readonly shown = h('div', { class: 'key-reveal', hidden: true });
  private signupEnabled = true;

  /** `revealRoot` holds the one-time display of a new key. */
  constructor(root: HTMLElement, revealRoot: HTMLElement) {
    this.root = root;
    revealRoot.append(this.shown);
    onApiKeyChange(() => this.render());
    this.render();
  }

  setSignupEnabled(on: boolean): void {
    this.signupEnabled = on;
    this.render();
  }

  private render(): void {
    setText(this.error, '');
    if (apiKey()) {
      const key = apiKey()!;
      const masked = key.length > 10 ? `${key.slice(0, 4)}…${key.slice(-4)}` : '••••';
      this.root.replaceChildren(
        h(
          'span',
          { class: 'muted key-label', title: 'Signed in with this API key', 'data-testid': 'account-key' },
          `Key ${masked}`,
        ),
        h(
          'button',
          { type: 'button', class: 'btn small', 'data-testid': 'signout-button', onClick: () => this.signOut() },
          'Sign out',
        ),
      );
      return;
    }
    const input = h('input', {
      class: 'input key-input',
      type: 'password',
      autocomplete: 'off',
      placeholder: 'Paste API key',
      'aria-label': 'API key',
      'data-testid': 'api-key-input',
    });
    const use = h('button', { type: 'submit', class: 'btn small', 'data-testid': 'api-key-submit' }, 'Use key');
    const form = h('form', { class: 'key-form', novalidate: true }, input, use);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.useKey(input.value, use);
    });
    const signup = this.signupEnabled
      ? h(
          'button',
          {
            type: 'button',
            class: 'btn small primary',
            'data-testid': 'signup-button',
            onClick: (ev: Event) => void this.signUp(ev.currentTarget as HTMLButtonElement),
          },
          'Sign up',
        )
      : null;
    this.root.replaceChildren(...[signup, form, this.error].filter((el): el is HTMLElement => el !== null));
  }

  private async signUp(btn: HTMLButtonElement): Promise<void> {
    btn.disabled = true;
    setText(this.error, '');
    try {
      const user = await api.createUser();
      if (!user || typeof user.api_key !== 'string') throw new Error('The server sent no API key');
      this.reveal(user.api_key, user.user_id);
      setApiKey(user.api_key);
    } catch (e) {
      btn.disabled = false;
      setText(this.error, `Sign-up failed: ${errorText(e)}`);
    }
  }

  /** Shows a new key once, with a copy button. */
  private reveal(key: string, userId: string): void {
    const shown = revealSecret(
      `Account ${userId} created. Your API key, shown only this once:`,
      key,
      'It is kept in this browser. Save it to sign in elsewhere.',
      () => (this.shown.hidden = true),
      { secret: 'api-key-shown', dismiss: 'api-key-dismiss' },
    );
    this.shown.replaceChildren(...shown.childNodes);
    this.shown.hidden = false;
  }

  private async useKey(raw: string, btn: HTMLButtonElement): Promise<void> {
    const key = raw.trim();
    if (!key) {
      setText(this.error, 'Paste a key first');
      return;
    }
    btn.disabled = true;
    setText(this.error, '');
    try {
      await api.balances(key);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        btn.disabled = false;
        setText(this.error, 'That key was refused');
        return;
      }
      // any other failure (server down, ...) says nothing about the key: keep it
    }
    btn.disabled = false;
    setApiKey(key);
  }

  private signOut(): void {
    this.shown.hidden = true;
    setApiKey(null);
  }
}
