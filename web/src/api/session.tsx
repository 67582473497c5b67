import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { api, useTokenStore, type TokenPair } from './client';
import type { Me, Permission } from './types';

/**
 * Who is signed in. The access token lives in memory only; the refresh token in sessionStorage,
 * so a reload keeps the session but closing the tab ends it (a shared control-room machine).
 */
interface Session {
  me: Me | null;
  /** True while a stored session is being resumed at load. */
  resuming: boolean;
  signIn(username: string, password: string): Promise<void>;
  signOut(): Promise<void>;
  can(permission: Permission): boolean;
  /** The access token, for the WebSocket URL (browsers cannot set its headers). */
  accessToken(): string | null;
}

const REFRESH_KEY = 'possible-city.refresh';
const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [resuming, setResuming] = useState(() => sessionStorage.getItem(REFRESH_KEY) !== null);
  const access = useRef<string | null>(null);
  const refreshing = useRef<Promise<boolean> | null>(null);

  const keep = (pair: TokenPair) => {
    access.current = pair.access_token;
    sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
  };
  const forget = useCallback(() => {
    access.current = null;
    sessionStorage.removeItem(REFRESH_KEY);
    setMe(null);
  }, []);

  const refresh = useCallback((): Promise<boolean> => {
    // Several requests may find the token expired at once: one refresh serves them all
    // (a refresh token is single-use; presenting it twice would revoke the session).
    refreshing.current ??= (async () => {
      const token = sessionStorage.getItem(REFRESH_KEY);
      if (!token) return false;
      try {
        keep(await api<TokenPair>('/api/v1/auth/refresh', { method: 'POST', body: { refresh_token: token } }));
        return true;
      } catch {
        return false;
      } finally {
        refreshing.current = null;
      }
    })();
    return refreshing.current;
  }, []);

  useEffect(() => {
    useTokenStore({ access: () => access.current, refresh, expired: forget });
    return () => useTokenStore(null);
  }, [refresh, forget]);

  // Resume a session kept in this tab.
  useEffect(() => {
    if (!resuming) return;
    void (async () => {
      if (await refresh()) setMe(await api<Me>('/api/v1/auth/me').catch(() => null));
      else forget();
      setResuming(false);
    })();
    // Once, at load.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // Renew the access token a minute before it expires while the page is open, so the live
  // stream (which carries the token in its URL) can always reconnect.
  useEffect(() => {
    if (!me) return;
    const timer = setInterval(() => void refresh(), 50 * 60_000);
    return () => clearInterval(timer);
  }, [me, refresh]);

  const session = useMemo<Session>(
    () => ({
      me,
      resuming,
      async signIn(username, password) {
        keep(await api<TokenPair>('/api/v1/auth/login', { method: 'POST', body: { username, password } }));
        setMe(await api<Me>('/api/v1/auth/me'));
      },
      async signOut() {
        await api('/api/v1/auth/logout', { method: 'POST' }).catch(() => undefined);
        forget();
      },
      can: (permission) => me?.permissions.includes(permission) ?? false,
      accessToken: () => access.current,
    }),
    [me, resuming, forget],
  );
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionProvider');
  return session;
}
