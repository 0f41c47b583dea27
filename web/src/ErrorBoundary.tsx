import { Component, type ReactNode } from "react";

/** A rendering failure shows a sentence and a way on, never a blank page. */
export class ErrorBoundary extends Component<{ children: ReactNode }, { error: Error | null }> {
  override state: { error: Error | null } = { error: null };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  override render() {
    if (!this.state.error) return this.props.children;
    return (
      <div className="signin-page">
        <div className="card signin" role="alert">
          <h1>The console hit a problem</h1>
          <p>{this.state.error.message}</p>
          <p className="muted">Reload the page to continue; your sources and queries are safe on the server.</p>
          <div className="row"><button type="button" onClick={() => location.reload()}>Reload</button></div>
        </div>
      </div>
    );
  }
}
