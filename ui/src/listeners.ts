// Typed listeners by key: `M` maps each key to the value its listeners get, so a
// listener registered for one key is only ever called with that key's value.

type Listener<T> = (value: T) => void;

export class Listeners<M> {
  private readonly sets: { [K in keyof M]?: Set<Listener<M[K]>> } = {};

  /**
   * `onError` gets what a listener throws, and the other listeners still run;
   * without it the exception goes to the caller of `emit`.
   */
  constructor(private readonly onError?: (error: unknown) => void) {}

  /** Adds `listener` for `key`; returns what removes it. */
  add<K extends keyof M>(key: K, listener: Listener<M[K]>): () => void {
    const set = this.sets[key] ?? new Set<Listener<M[K]>>();
    this.sets[key] = set;
    set.add(listener);
    return () => set.delete(listener);
  }

  emit<K extends keyof M>(key: K, value: M[K]): void {
    const set = this.sets[key];
    if (!set) return;
    for (const listener of set) {
      if (!this.onError) {
        listener(value);
        continue;
      }
      try {
        listener(value);
      } catch (error) {
        this.onError(error);
      }
    }
  }
}
