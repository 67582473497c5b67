// PLACEHOLDER: replaced by the view's implementation before this lands.
export default function HealthView() {
  return <h2>HealthView</h2>;
}
