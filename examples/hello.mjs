// The smallest portico app: a fetch-style handler (the Web standard Hono and others use).
export default {
  fetch() {
    return new Response('Hello World');
  },
};
