// A partition assigner that gives every partition to one member of the group
// and none to the others: the adapter's replicas are one active learner and
// hot standbys (docs/adaptation.md "Replicas"). A policy's shares are one
// decision over all of its traffic, so the group must not split the traffic
// between learners that would each publish shares from a part of it. The
// member that is active keeps the partitions across rebalances; otherwise the
// one that started first gets them, so a new replica never takes over from a
// healthy one. When the active member leaves (or misses its session timeout),
// the group rebalances and a standby takes everything.
import type { Assigner, GroupMember, PartitionAssigner } from "kafkajs";

export const ACTIVE_STANDBY = "RouteplaneActiveStandby";

interface Claim {
  /** When the member started (ms since the epoch). */
  startedAt: number;
  /** Whether it holds the partitions now. */
  active: boolean;
}

/** The member that gets every partition: the active one, else the earliest started; ties by member id. */
export function chooseActive(members: { memberId: string; claim: Claim | null }[]): string | null {
  const ranked = [...members].sort((a, b) => {
    const ca = a.claim ?? { startedAt: Infinity, active: false };
    const cb = b.claim ?? { startedAt: Infinity, active: false };
    if (ca.active !== cb.active) return ca.active ? -1 : 1;
    if (ca.startedAt !== cb.startedAt) return ca.startedAt - cb.startedAt;
    return a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0;
  });
  return ranked[0]?.memberId ?? null;
}

export function activeStandbyAssigner(k: typeof import("kafkajs"), startedAt: number, isActive: () => boolean): PartitionAssigner {
  const { MemberMetadata, MemberAssignment } = k.AssignerProtocol;
  return ({ cluster }): Assigner => ({
    name: ACTIVE_STANDBY,
    version: 0,
    async assign({ members, topics }: { members: GroupMember[]; topics: string[] }) {
      const claims = members.map((m) => {
        let claim: Claim | null = null;
        try {
          const meta = MemberMetadata.decode(m.memberMetadata);
          claim = meta?.userData?.length ? (JSON.parse(meta.userData.toString("utf8")) as Claim) : null;
        } catch {
          claim = null; // a member that says nothing sensible ranks last
        }
        return { memberId: m.memberId, claim };
      });
      const active = chooseActive(claims);
      const all = Object.fromEntries(topics.map((t) => [t, cluster.findTopicPartitionMetadata(t).map((p) => p.partitionId)]));
      return members.map((m) => ({
        memberId: m.memberId,
        memberAssignment: MemberAssignment.encode({ version: 0, assignment: m.memberId === active ? all : {}, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }: { topics: string[] }) {
      const claim: Claim = { startedAt, active: isActive() };
      return { name: ACTIVE_STANDBY, metadata: MemberMetadata.encode({ version: 0, topics, userData: Buffer.from(JSON.stringify(claim)) }) };
    },
  });
}
