/**
 * A dependency-injection key that carries the type it resolves to.
 *
 * Tokens are plain symbols (registered with `Symbol.for`, so two copies of this
 * package agree on them), which any container accepts — tsyringe included — and
 * which share their name with the interface they stand for:
 *
 * ```ts
 * export interface Clock { now(): number }
 * export const Clock: InjectionToken<Clock> = createToken<Clock>('Clock');
 * ```
 */
export type InjectionToken<T> = symbol & { readonly __nodeagentTokenType?: T };

/** Creates the token `nodeagent.<name>`. */
export function createToken<T>(name: string): InjectionToken<T> {
  return Symbol.for(`nodeagent.${name}`);
}

/** The smallest view of a DI container that `register…` functions and helpers need. */
export interface TokenResolver {
  resolve<T>(token: InjectionToken<T>): T;
  /** tsyringe's `isRegistered`; when absent, {@link resolveOptional} tries to resolve. */
  isRegistered?(token: symbol, recursive?: boolean): boolean;
}

/**
 * Resolves `token` when the container has it, undefined otherwise: for optional
 * collaborators such as a Logger or MetricsRegistry.
 */
export function resolveOptional<T>(
  container: TokenResolver,
  token: InjectionToken<T>,
): T | undefined {
  if (container.isRegistered) {
    return container.isRegistered(token, true) ? container.resolve(token) : undefined;
  }
  try {
    return container.resolve(token);
  } catch {
    return undefined;
  }
}

/** Resolves `token` from `container` with the token's own type. */
export function resolveToken<T>(container: TokenResolver, token: InjectionToken<T>): T {
  return container.resolve(token);
}

/**
 * The smallest view of a DI container that `register…` functions need: tsyringe's
 * `DependencyContainer` satisfies it, and so can any other container or a Map.
 * Factories are called once per resolve; `register…` functions cache singletons themselves.
 */
export interface FactoryRegistry {
  register<T>(
    token: InjectionToken<T>,
    provider: { useFactory: (resolver: TokenResolver) => T },
  ): unknown;
}
