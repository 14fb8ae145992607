export default function Home() {
  return (
    <main>
      <h1>Tollgate × Next.js</h1>
      <p>
        <code>POST /api/chat</code> is limited per API key by <code>withTollgate</code>: 5 requests and 20,000 tokens a minute, $1 a
        day, one request in flight. Add <code>?stream=1</code> for server-sent events. Every <code>/api/*</code> route also passes{' '}
        <code>proxy.ts</code>: 30 requests a minute per key.
      </p>
      <pre>{`curl -i -X POST http://localhost:3000/api/chat \\
  -H 'authorization: Bearer sk-demo' \\
  -d '{"messages":[{"role":"user","content":"Hi"}]}'`}</pre>
    </main>
  );
}
