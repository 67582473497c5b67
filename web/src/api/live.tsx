import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useSession } from './session';
import type { LiveMessage } from './types';

export type LiveStatus = 'connecting' | 'live' | 'reconnecting';

interface Live {
  status: LiveStatus;
  /** Updates lost by a slow connection since the page opened (the node says how many). */
  dropped: number;
  subscribe(listener: (message: LiveMessage) => void): () => void;
}

const LiveContext = createContext<Live | null>(null);
const MAX_BACKOFF_MS = 15_000;

/**
 * One WebSocket to `/api/v1/stream` for the whole dashboard (events, decisions and action
 * updates in the user's scope: the node narrows an unfiltered stream to it). Views subscribe
 * to the messages they show. A lost connection is retried with backoff and a fresh token; views
 * that must not miss anything refetch when the status returns to 'live'.
 */
export function LiveProvider({ children }: { children: ReactNode }) {
  const session = useSession();
  const listeners = useRef(new Set<(message: LiveMessage) => void>());
  const [status, setStatus] = useState<LiveStatus>('connecting');
  const [dropped, setDropped] = useState(0);
  const signedIn = session.me !== null;
  // The session object changes with every token refresh; the socket must not.
  const sessionRef = useRef(session);
  sessionRef.current = session;

  useEffect(() => {
    if (!signedIn) return;
    let socket: WebSocket | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let attempt = 0;
    let stopped = false;
    const connect = async (refusedLastTime: boolean) => {
      // A connection closed before its hello was most likely refused at the upgrade (an expired
      // token after sleep, say): reconnect with a freshly refreshed one.
      const token = await sessionRef.current.freshAccessToken(refusedLastTime);
      if (stopped || token === null) return; // signed out meanwhile: the sign-in form shows
      let greeted = false;
      const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
      socket = new WebSocket(`${scheme}://${location.host}/api/v1/stream?access_token=${encodeURIComponent(token)}`);
      socket.onmessage = (e) => {
        const message = JSON.parse(String(e.data)) as LiveMessage;
        if (message.kind === 'hello') {
          greeted = true;
          attempt = 0;
          setStatus('live');
        } else if (message.kind === 'dropped') setDropped((n) => n + message.count);
        for (const listener of listeners.current) listener(message);
      };
      socket.onclose = () => {
        if (stopped) return;
        setStatus('reconnecting');
        const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt++);
        retry = setTimeout(() => void connect(!greeted), delay);
      };
    };
    void connect(false);
    return () => {
      stopped = true;
      clearTimeout(retry);
      socket?.close(1000);
    };
  }, [signedIn]);

  const subscribe = useCallback((listener: (message: LiveMessage) => void) => {
    listeners.current.add(listener);
    return () => void listeners.current.delete(listener);
  }, []);
  const live = useMemo<Live>(() => ({ status, dropped, subscribe }), [status, dropped, subscribe]);
  return <LiveContext.Provider value={live}>{children}</LiveContext.Provider>;
}

export function useLive(): Live {
  const live = useContext(LiveContext);
  if (!live) throw new Error('useLive outside LiveProvider');
  return live;
}

/** Calls `onMessage` for every live message while the component is mounted. */
export function useLiveMessages(onMessage: (message: LiveMessage) => void): void {
  const { subscribe } = useLive();
  const handler = useRef(onMessage);
  handler.current = onMessage;
  useEffect(() => subscribe((m) => handler.current(m)), [subscribe]);
}

/**
 * Calls `onMissed` when live updates were missed — the stream came back after being lost (it
 * does not replay), or the node dropped messages for a slow connection — so a view fetches what
 * it shows again. Not when a view opens on a stream that is already live.
 */
export function useResync(onMissed: () => void): void {
  const { status } = useLive();
  const handler = useRef(onMissed);
  handler.current = onMissed;
  const wasLive = useRef(status === 'live');
  useEffect(() => {
    if (status === 'live' && !wasLive.current) handler.current();
    wasLive.current = status === 'live';
  }, [status]);
  useLiveMessages((m) => {
    if (m.kind === 'dropped') handler.current();
  });
}
