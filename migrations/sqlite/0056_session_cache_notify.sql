-- PostgreSQL's 0056 tells other instances sharing the database to forget cached sessions. An
-- SQLite database has one server, which forgets them itself after each such write; this keeps
-- the two backends' migration numbers in step.
SELECT 1;
