// PLACEHOLDER: replaced by the view's implementation before this lands.
export default function ApprovalsView() {
  return <h2>ApprovalsView</h2>;
}
