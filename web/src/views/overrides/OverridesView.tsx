// PLACEHOLDER: replaced by the view's implementation before this lands.
export default function OverridesView() {
  return <h2>OverridesView</h2>;
}
