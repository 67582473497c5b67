import { Suspense, useEffect, useRef } from 'react';
import { useSession } from '../api/session';
import { LiveProvider, useLive } from '../api/live';
import { Login } from './Login';
import { ErrorBoundary } from '../components/ErrorBoundary';
import { href, useHashRoute } from './hash-route';
import { VIEWS } from './views';

export function App() {
  const session = useSession();
  if (session.resuming) return <p className="centered" role="status">Resuming your session…</p>;
  if (!session.me) return <Login />;
  return (
    <LiveProvider>
      <Shell />
    </LiveProvider>
  );
}

function Shell() {
  const session = useSession();
  const me = session.me!;
  const route = useHashRoute();
  const views = VIEWS.filter((v) => session.can(v.permission));
  const current = views.find((v) => v.id === route.view) ?? views[0];
  const main = useRef<HTMLElement>(null);

  useEffect(() => {
    document.title = current ? `${current.label} — Possible City` : 'Possible City';
  }, [current]);

  return (
    <div className="shell">
      <a className="skip-link" href="#main" onClick={(e) => (e.preventDefault(), main.current?.focus())}>
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand" aria-label="Possible City">
          <img src="/favicon.svg" alt="" width={24} height={24} /> Possible City
        </span>
        <nav aria-label="Views">
          <ul>
            {views.map((v) => (
              <li key={v.id}>
                <a href={href(v.id)} aria-current={v === current ? 'page' : undefined}>
                  {v.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <LiveBadge />
        <div className="who">
          <span title={me.scope}>
            {me.display_name ?? me.username} · {me.level_title ?? me.role.replace('_', ' ')}
            {me.scope_zone ? ` · ${me.scope_zone.name ?? me.scope_zone.id}` : ''}
          </span>
          <button type="button" className="link" onClick={() => void session.signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {current ? (
          <ErrorBoundary key={current.id}>
            <Suspense fallback={<p role="status">Loading {current.label.toLowerCase()}…</p>}>
              <current.component />
            </Suspense>
          </ErrorBoundary>
        ) : (
          <p className="notice">Your account ({me.role}) has no dashboard views: the dashboard is for operators, authorities and administrators.</p>
        )}
      </main>
    </div>
  );
}

function LiveBadge() {
  const live = useLive();
  const text = live.status === 'live' ? 'Live' : live.status === 'connecting' ? 'Connecting…' : 'Reconnecting…';
  return (
    <span className={`live-badge ${live.status}`} role="status" aria-live="polite" title={live.dropped > 0 ? `${live.dropped} updates were lost on a slow connection` : undefined}>
      <span aria-hidden="true" className="dot" /> {text}
    </span>
  );
}
