import { Component, type ReactNode } from 'react';

/** A view that fails to render says so, with a way back, instead of blanking the dashboard. */
export class ErrorBoundary extends Component<{ children: ReactNode }, { error: Error | null }> {
  override state: { error: Error | null } = { error: null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  override render() {
    if (!this.state.error) return this.props.children;
    return (
      <div className="error" role="alert">
        <p>This view failed: {this.state.error.message}</p>
        <button type="button" onClick={() => location.reload()}>
          Reload the dashboard
        </button>
      </div>
    );
  }
}
