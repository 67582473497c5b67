import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
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
  /**
   * An access token good for at least another minute (refreshed first when it is not, or
   * always with `force`): what the live stream connects with. Null when the session is over.
   */
  freshAccessToken(force?: boolean): Promise<string | null>;
}

const REFRESH_KEY = 'possible-city.refresh';
const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [resuming, setResuming] = useState(() => sessionStorage.getItem(REFRESH_KEY) !== null);
  const [expiresAtMs, setExpiresAtMs] = useState<number | null>(null);
  const access = useRef<string | null>(null);
  const refreshing = useRef<Promise<boolean> | null>(null);
  const queries = useQueryClient();

  const keep = (pair: TokenPair) => {
    access.current = pair.access_token;
    sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
    setExpiresAtMs(Date.now() + pair.expires_in * 1000);
  };
  const forget = useCallback(() => {
    access.current = null;
    sessionStorage.removeItem(REFRESH_KEY);
    setExpiresAtMs(null);
    setMe(null);
    // What this user was allowed to see must not fill the next user's views on a shared machine.
    queries.clear();
  }, [queries]);

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

  // Renew the access token a minute before it expires (its lifetime is the node's
  // auth.accessTokenTtlS) while the page is open. A laptop waking from sleep finds the timer
  // late: freshAccessToken() covers the live stream then, and api() any request.
  useEffect(() => {
    if (!me || expiresAtMs === null) return;
    const timer = setTimeout(() => void refresh(), Math.max(30_000, expiresAtMs - Date.now() - 60_000));
    return () => clearTimeout(timer);
  }, [me, expiresAtMs, refresh]);

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
      async freshAccessToken(force = false) {
        if (force || expiresAtMs === null || expiresAtMs - Date.now() < 60_000) {
          if (!(await refresh())) {
            forget();
            return null;
          }
        }
        return access.current;
      },
    }),
    [me, resuming, forget, refresh, expiresAtMs],
  );
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionProvider');
  return session;
}
