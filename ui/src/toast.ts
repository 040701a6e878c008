// Short-lived notices in the corner.

import { h } from './dom';

export type NoticeKind = 'ok' | 'error' | 'info';

export function makeNotifier(root: HTMLElement, ttlMs = 4000): (text: string, kind?: NoticeKind) => void {
  return (text, kind = 'info') => {
    const el = h(
      'div',
      { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-testid': 'toast' },
      text,
    );
    root.append(el);
    while (root.children.length > 4) root.firstElementChild?.remove();
    setTimeout(() => el.remove(), ttlMs);
  };
}
