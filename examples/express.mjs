// An unmodified Express 5 app: portico runs the `app` function as a Node (req, res) listener, so
// nothing here knows about portico (the same module could call app.listen elsewhere).
//
//   npx portico worker examples/express.mjs --socket /tmp/p.sock --chmod-socket 666
import express from 'express';

const app = express();
app.use(express.json());

const todos = [{ id: 1, title: 'put nginx in front', done: true }];

app.get('/', (req, res) => {
  // req.ip is nginx's $remote_addr (REMOTE_ADDR), not the unix socket's empty peer.
  res.type('text').send(`Hello from Express, ${req.ip}\n`);
});

app.get('/todos', (req, res) => res.json(todos));

app.get('/todos/:id', (req, res) => {
  const todo = todos.find((t) => t.id === Number(req.params.id));
  if (!todo) return res.status(404).json({ error: 'no such todo' });
  res.json(todo);
});

app.post('/todos', (req, res) => {
  if (typeof req.body?.title !== 'string') return res.status(400).json({ error: 'title is required' });
  const todo = { id: todos.length + 1, title: req.body.title, done: false };
  todos.push(todo);
  // Kept in this worker process's memory: with --processes N each worker has its own list.
  res.status(201).location(`/todos/${todo.id}`).json(todo);
});

// Express's own error handler shape: portico never sees this error, Express answers it.
app.use((err, req, res, _next) => {
  res.status(500).json({ error: err.message });
});

export default app;
