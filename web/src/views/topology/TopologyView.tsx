// PLACEHOLDER: replaced by the view's implementation before this lands.
export default function TopologyView() {
  return <h2>TopologyView</h2>;
}
