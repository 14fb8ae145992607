/** The models this demo serves: limited only by the proxy. */
export function GET() {
  return Response.json({ object: 'list', data: ['demo-large', 'demo-small'].map((id) => ({ id, object: 'model', owned_by: 'tollgate-demo' })) });
}
