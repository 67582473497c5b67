// PLACEHOLDER: replaced by the view's implementation before this lands.
export default function MapView() {
  return <h2>MapView</h2>;
}
