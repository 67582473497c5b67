// PLACEHOLDER: replaced by the view's implementation before this lands.
export default function HistoryView() {
  return <h2>HistoryView</h2>;
}
