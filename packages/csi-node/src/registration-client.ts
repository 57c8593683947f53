import { DeadlineExceededError, type Clock } from '@nodeagent/core';
import { GrpcUnixChannel, registrationGrpcMethods } from './csi-client-grpc.js';
import type { PluginInfo } from './generated/pluginregistration-types.js';

/** Kubelet `dialTimeoutDuration`: how long GetInfo on a registration socket may take, dial included (10 s). */
export const defaultGetInfoTimeoutMs = 10_000;

/** Kubelet `notifyTimeoutDuration`: how long NotifyRegistrationStatus may take (5 s). */
export const defaultNotifyTimeoutMs = 5_000;

/**
 * The agent's side of the plugin registration protocol on one registration socket:
 * GetInfo and NotifyRegistrationStatus, each under a Clock-driven deadline.
 */
export class RegistrationClient {
  private readonly channel: GrpcUnixChannel;

  constructor(
    /** The registration socket path. */
    readonly socketPath: string,
    private readonly clock: Clock,
    private readonly timeouts: { getInfoMs: number; notifyMs: number } = {
      getInfoMs: defaultGetInfoTimeoutMs,
      notifyMs: defaultNotifyTimeoutMs,
    },
  ) {
    this.channel = new GrpcUnixChannel({ endpoint: socketPath, who: 'plugin registration' });
  }

  /** Registration.GetInfo: the plugin's type, name, endpoint and versions. */
  async getInfo(signal?: AbortSignal): Promise<PluginInfo> {
    return (await this.withDeadline('getInfo', this.timeouts.getInfoMs, {}, signal)) as PluginInfo;
  }

  /** Registration.NotifyRegistrationStatus: tells the plugin whether it was registered. */
  async notify(registered: boolean, error: string, signal?: AbortSignal): Promise<void> {
    await this.withDeadline(
      'notifyRegistrationStatus',
      this.timeouts.notifyMs,
      { pluginRegistered: registered, error },
      signal,
    );
  }

  /** Closes the channel. */
  close(): void {
    this.channel.close();
  }

  private async withDeadline(
    name: 'getInfo' | 'notifyRegistrationStatus',
    timeoutMs: number,
    request: unknown,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const method = registrationGrpcMethods()[name];
    const controller = new AbortController();
    const timer = this.clock.setTimeout(
      () =>
        controller.abort(
          new DeadlineExceededError(
            `${method.operation}: no answer on ${this.socketPath} within ${timeoutMs} ms`,
            { operation: method.operation },
          ),
        ),
      timeoutMs,
    );
    const onAbort = (): void => controller.abort(signal?.reason);
    if (signal?.aborted) controller.abort(signal.reason);
    else signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.channel.unary(method, request, controller.signal);
    } finally {
      timer.cancel();
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
