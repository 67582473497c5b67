import { useQuery } from '@tanstack/react-query';
import { errorText } from '../../api/client';
import { formatTime } from '../../components/time';
import { METRIC, type HealthPoint, type TimedScrape } from './derive';
import { formatBytes, formatCount, formatSeconds } from './format';
import { total } from './prometheus';

/** GET /healthz (src/ops/routes.ts): liveness plus the node's identity. */
interface Healthz {
  status: string;
  node_id?: string;
  role?: string;
  version?: string;
  store?: string;
}

/** GET /readyz answers 503 with a reason when the node is not ready: that is data here, not a failure. */
type Readyz = { status: 'ready' } | { status: 'not_ready'; reason: string };

async function getJson<T>(path: string, signal: AbortSignal, okStatuses: number[]): Promise<T> {
  const response = await fetch(path, { signal, headers: { accept: 'application/json' } });
  if (!response.ok && !okStatuses.includes(response.status)) throw new Error(`GET ${path} answered ${response.status} ${response.statusText}`);
  return (await response.json()) as T;
}

/** Who this node is and whether it takes input, with the process figures from its metrics. */
export function NodeFacts({ latest, point }: { latest: TimedScrape | null; point: HealthPoint | undefined }) {
  const health = useQuery({ queryKey: ['healthz'], queryFn: ({ signal }) => getJson<Healthz>('/healthz', signal, []), refetchInterval: 10_000 });
  const ready = useQuery({ queryKey: ['readyz'], queryFn: ({ signal }) => getJson<Readyz>('/readyz', signal, [503]), refetchInterval: 5_000 });
  const scrape = latest?.scrape;
  const started = scrape ? total(scrape, METRIC.startTime) : null;
  const memory = scrape ? total(scrape, METRIC.residentMemory) : null;
  const lag = scrape ? total(scrape, METRIC.eventLoopLagP99) : null;
  const count = (v: number | null | undefined) => (v == null ? '—' : formatCount(v));

  return (
    <section className="health-facts card" aria-labelledby="health-facts-title">
      <h3 id="health-facts-title">This node</h3>
      {health.error ? <p className="error" role="alert">Cannot read /healthz: {errorText(health.error)}</p> : null}
      <dl className="health-facts-list">
        <Fact term="Node">{health.data?.node_id ?? '…'}</Fact>
        <Fact term="Role">{health.data?.role ?? '…'}</Fact>
        <Fact term="Version">{health.data?.version ?? '…'}</Fact>
        <Fact term="Store">{health.data?.store ?? '…'}</Fact>
        <Fact term="Readiness">
          <span role="status">
            {ready.error ? (
              <span className="error">unknown: {errorText(ready.error)}</span>
            ) : ready.data ? (
              ready.data.status === 'ready' ? (
                <span className="health-ok">✓ ready</span>
              ) : (
                <span className="error">✗ not ready: {ready.data.reason}</span>
              )
            ) : (
              '…'
            )}
          </span>
        </Fact>
        <Fact term="Started">{started ? formatTime(started * 1000) : '—'}</Fact>
        <Fact term="Memory (resident)">{memory ? formatBytes(memory) : '—'}</Fact>
        <Fact term="Event-loop lag p99">{lag !== null ? formatSeconds(lag) : '—'}</Fact>
        <Fact term="Events waiting for commit">{count(point?.pendingRows)}</Fact>
        <Fact term="MQTT clients">{count(point?.mqttClients)}</Fact>
        <Fact term="Live-stream clients">{count(point?.streamClients)}</Fact>
      </dl>
    </section>
  );
}

function Fact({ term, children }: { term: string; children: React.ReactNode }) {
  return (
    <div className="health-fact">
      <dt>{term}</dt>
      <dd>{children}</dd>
    </div>
  );
}
