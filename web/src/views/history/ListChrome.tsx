import type { ReactNode } from 'react';
import { ErrorText } from '../../components/ErrorText';
import type { List, LiveNews } from './use-history';

/**
 * What every history list has around its table: the "N new — show" button for live arrivals,
 * loading and error states, the empty state and "Load more".
 */
export function ListChrome<Row>({ list, news, noun: one, children }: { list: List<Row>; news: LiveNews; noun: string; children: ReactNode }) {
  const noun = `${one}s`;
  return (
    <div className="history-list">
      <div className="history-live" aria-live="polite">
        {news.count > 0 && (
          <button type="button" className="history-new" onClick={news.show}>
            {news.count > 999 ? '999+' : news.count} new {news.count === 1 ? one : noun} — show
          </button>
        )}
      </div>
      {list.error ? (
        <div>
          <ErrorText error={list.error} />
          <p className="muted">Change the filters and apply them again, or reload the page.</p>
        </div>
      ) : list.isPending ? (
        <p role="status">Loading {noun}…</p>
      ) : list.rows.length === 0 ? (
        <p className="notice">No {noun} match these filters. Widen the time range or clear a filter.</p>
      ) : (
        children
      )}
      {list.hasMore && !list.error && (
        <button type="button" className="history-more" onClick={list.loadMore} disabled={list.loadingMore}>
          {list.loadingMore ? 'Loading…' : 'Load more'}
        </button>
      )}
      {!list.isPending && !list.error && list.rows.length > 0 && (
        <p className="muted history-count" role="status">
          Showing {list.rows.length} {list.rows.length === 1 ? one : noun}
          {list.hasMore ? '; more are older' : ''}.
        </p>
      )}
    </div>
  );
}
