/** `<service name>.<$SRV id>`: a replica, safe to put in a subject. */
const REPLICA_NAME = /^([\w-]+)\.\w+$/;
/** Replicas remembered per service, alive and vanished (the least recently heard of forgotten first). */
const MAX_PER_SERVICE = 64;

/** The service a replica name belongs to, or undefined when it is not a replica name. */
export const serviceOfReplica = (replica: string): string | undefined => REPLICA_NAME.exec(replica)?.[1];

/**
 * What a requester knows of the replicas of the services it calls: those heard of (heartbeats,
 * `$SRV` ping answers) with when, and those since found gone from the bus. A request silent before
 * its first heartbeat could be on any replica; it counts as lost when a replica that was alive
 * around the time it was sent has vanished.
 */
export class ReplicaWatch {
  private readonly alive = new Map<string, Map<string, number>>();
  private readonly vanished = new Map<string, Map<string, number>>();

  heard(replica: string, at: number): void {
    const service = serviceOfReplica(replica);
    if (service) touch(this.alive, service, replica, at);
  }

  /** The replicas of `service` believed alive. */
  of(service: string): string[] {
    return [...(this.alive.get(service)?.keys() ?? [])];
  }

  /** `replica` answered "no responders": it is gone. */
  gone(replica: string): void {
    const service = serviceOfReplica(replica);
    const last = service ? this.alive.get(service)?.get(replica) : undefined;
    if (!service || last === undefined) return;
    this.alive.get(service)!.delete(replica);
    touch(this.vanished, service, replica, last);
  }

  /** Whether a replica of `service` heard of within `windowMs` before `sentAt` (or later) has vanished. */
  lostSince(service: string, sentAt: number, windowMs: number): boolean {
    for (const last of this.vanished.get(service)?.values() ?? []) if (last >= sentAt - windowMs) return true;
    return false;
  }
}

function touch(m: Map<string, Map<string, number>>, service: string, replica: string, at: number): void {
  let r = m.get(service);
  if (!r) m.set(service, (r = new Map()));
  r.delete(replica);
  if (r.size >= MAX_PER_SERVICE) r.delete(r.keys().next().value!);
  r.set(replica, at);
}
