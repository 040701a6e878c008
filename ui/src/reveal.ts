// A secret shown once, with a button that copies it (or selects it where the
// clipboard is not available).

import { h, setText } from './dom';

/** Test ids of the secret's text and of the button that hides it. */
export interface RevealIds {
  secret: string;
  dismiss: string;
}

/** The secret, a copy button and what to say about it; `onDone` hides it. */
export function revealSecret(
  title: string,
  secret: string,
  note: string,
  onDone: () => void,
  ids: RevealIds,
): HTMLElement {
  const code = h('code', { 'data-testid': ids.secret }, secret);
  const copy = h('button', { type: 'button', class: 'btn tiny' }, 'Copy');
  copy.addEventListener('click', () => {
    const done = () => setText(copy, 'Copied');
    if (navigator.clipboard?.writeText) {
      navigator.clipboard.writeText(secret).then(done, () => selectText(code));
    } else {
      selectText(code);
    }
  });
  return h(
    'div',
    { class: 'key-reveal' },
    h('div', { class: 'key-reveal-title' }, title),
    h('div', { class: 'key-reveal-row' }, code, copy),
    h('div', { class: 'muted' }, note),
    h('button', { type: 'button', class: 'btn tiny', 'data-testid': ids.dismiss, onClick: onDone }, 'Done'),
  );
}

function selectText(el: HTMLElement): void {
  const range = document.createRange();
  range.selectNodeContents(el);
  const sel = window.getSelection();
  sel?.removeAllRanges();
  sel?.addRange(range);
}
