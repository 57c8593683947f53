import type { CsiClient } from './csi-client.js';
import type { CsiDriverRegistry, CsiNodeClient } from './types.js';

/** A registered CSI driver and what the agent learned about it at registration. */
export interface RegisteredCsiDriver {
  /** The driver name. */
  readonly name: string;
  /** The driver's CSI endpoint (gRPC address). */
  readonly endpoint: string;
  /** The registration socket the driver came through (kubelet uses it to match deregistration). */
  readonly registrationSocket: string;
  /** The highest supported CSI version it offered, e.g. `1.0.0`. */
  readonly version: string;
  /** NodeGetInfo node id. */
  readonly nodeId: string;
  /** NodeGetInfo max volumes per node; 0 = unlimited. */
  readonly maxVolumesPerNode: number;
  /** NodeGetInfo accessible topology segments. */
  readonly topology: Readonly<Record<string, string>>;
  /** The connected client. */
  readonly client: CsiClient;
}

/**
 * The in-memory registry of CSI drivers on this node (kubelet `csiDrivers`): filled
 * and emptied by the plugin manager, read by the volume manager.
 */
export class InMemoryCsiDriverRegistry implements CsiDriverRegistry {
  private readonly drivers = new Map<string, RegisteredCsiDriver>();
  private readonly listeners = new Set<(driverName: string, registered: boolean) => void>();

  /** {@inheritDoc CsiDriverRegistry.get} */
  get(driverName: string): CsiNodeClient | undefined {
    return this.drivers.get(driverName)?.client;
  }

  /** {@inheritDoc CsiDriverRegistry.list} */
  list(): string[] {
    return [...this.drivers.keys()].sort();
  }

  /** {@inheritDoc CsiDriverRegistry.onChange} */
  onChange(listener: (driverName: string, registered: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The full registration record of a driver. */
  entry(driverName: string): RegisteredCsiDriver | undefined {
    return this.drivers.get(driverName);
  }

  /** Adds or replaces a driver (closing the client it replaces) and tells the listeners. */
  set(driver: RegisteredCsiDriver): void {
    const old = this.drivers.get(driver.name);
    this.drivers.set(driver.name, driver);
    if (old && old.client !== driver.client) old.client.close();
    this.emit(driver.name, true);
  }

  /** Removes a driver (closing its client) and tells the listeners; false if it was not there. */
  delete(driverName: string): boolean {
    const old = this.drivers.get(driverName);
    if (!old) return false;
    this.drivers.delete(driverName);
    old.client.close();
    this.emit(driverName, false);
    return true;
  }

  /** Removes every driver, closing the clients (without telling listeners). */
  clear(): void {
    for (const d of this.drivers.values()) d.client.close();
    this.drivers.clear();
  }

  private emit(name: string, registered: boolean): void {
    for (const l of [...this.listeners]) {
      try {
        l(name, registered);
      } catch {
        // a listener's failure is its own
      }
    }
  }
}
