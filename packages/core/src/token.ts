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
}

/** Resolves `token` from `container` with the token's own type. */
export function resolveToken<T>(container: TokenResolver, token: InjectionToken<T>): T {
  return container.resolve(token);
}
