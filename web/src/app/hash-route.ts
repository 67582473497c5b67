import { useEffect, useState } from 'react';

/**
 * The dashboard's address is its hash (`#/history?decision=…`): the node serves one page at `/`
 * and needs no server-side routes for the views, and a reload or a shared link opens the same view.
 */
export interface HashRoute {
  view: string;
  params: URLSearchParams;
}

export function parseHash(hash: string): HashRoute {
  const raw = hash.replace(/^#\/?/, '');
  const [path = '', query = ''] = raw.split('?');
  return { view: path.split('/')[0] ?? '', params: new URLSearchParams(query) };
}

export function useHashRoute(): HashRoute {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** `href(view, { decision: id })` → `#/view?decision=id`. */
export function href(view: string, params: Record<string, string | undefined> = {}): string {
  const qs = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined)).toString();
  return `#/${view}${qs ? `?${qs}` : ''}`;
}

export function navigate(view: string, params: Record<string, string | undefined> = {}): void {
  location.hash = href(view, params);
}
