// The API key kept in localStorage, with change notifications.

const STORAGE_KEY = 'bourse.apiKey';

type Listener = (key: string | null) => void;
const listeners = new Set<Listener>();

function read(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

let current: string | null = read();

export function apiKey(): string | null {
  return current;
}

export function setApiKey(key: string | null): void {
  current = key?.trim() ? key.trim() : null;
  try {
    if (current) localStorage.setItem(STORAGE_KEY, current);
    else localStorage.removeItem(STORAGE_KEY);
  } catch {
    // storage unavailable (private mode): keep the key for this page only
  }
  for (const l of listeners) l(current);
}

export function onApiKeyChange(l: Listener): void {
  listeners.add(l);
}
