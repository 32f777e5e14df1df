import GRDB

/// The decision log's tables, created and upgraded by numbered migrations (docs/LOG.md describes
/// every column). A migration is never edited once released: a change is a new migration.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE sessions (
                        id TEXT PRIMARY KEY,
                        started_at REAL NOT NULL,
                        ended_at REAL,
                        status TEXT NOT NULL DEFAULT 'running',
                        policy TEXT NOT NULL,
                        policy_version TEXT NOT NULL,
                        policy_parameters TEXT NOT NULL DEFAULT '{}',
                        model TEXT,
                        instrument TEXT NOT NULL DEFAULT '{}'
                    );
                    CREATE TABLE frames (
                        id INTEGER PRIMARY KEY,
                        session_id TEXT NOT NULL REFERENCES sessions(id),
                        seq INTEGER NOT NULL,
                        received_at REAL NOT NULL,
                        width INTEGER NOT NULL,
                        height INTEGER NOT NULL,
                        pixel_size_angstrom REAL NOT NULL,
                        scan TEXT NOT NULL,
                        channels TEXT NOT NULL,
                        purpose TEXT,
                        analysed INTEGER NOT NULL DEFAULT 0,
                        pixels BLOB,
                        thumbnail BLOB,
                        UNIQUE (session_id, seq)
                    );
                    CREATE TABLE detections (
                        frame_id INTEGER NOT NULL REFERENCES frames(id),
                        x REAL NOT NULL,
                        y REAL NOT NULL,
                        type TEXT NOT NULL,
                        confidence REAL NOT NULL
                    );
                    CREATE INDEX detections_frame ON detections(frame_id);
                    CREATE TABLE communities (
                        frame_id INTEGER NOT NULL REFERENCES frames(id),
                        chip INTEGER NOT NULL,
                        community INTEGER NOT NULL,
                        PRIMARY KEY (frame_id, chip)
                    );
                    CREATE TABLE drift (
                        frame_id INTEGER NOT NULL REFERENCES frames(id),
                        reference_frame_id INTEGER NOT NULL REFERENCES frames(id),
                        dx_px REAL NOT NULL,
                        dy_px REAL NOT NULL,
                        peak REAL NOT NULL,
                        vx_nm_per_s REAL,
                        vy_nm_per_s REAL
                    );
                    CREATE TABLE condition_scores (
                        frame_id INTEGER NOT NULL REFERENCES frames(id),
                        score REAL NOT NULL,
                        statistics TEXT NOT NULL
                    );
                    CREATE TABLE decisions (
                        id INTEGER PRIMARY KEY,
                        session_id TEXT NOT NULL REFERENCES sessions(id),
                        made_at REAL NOT NULL,
                        input_frames TEXT NOT NULL,
                        candidates TEXT NOT NULL,
                        chosen TEXT NOT NULL,
                        reason TEXT NOT NULL,
                        policy TEXT NOT NULL,
                        policy_version TEXT NOT NULL,
                        policy_parameters TEXT NOT NULL,
                        model_version TEXT,
                        latency TEXT NOT NULL
                    );
                    CREATE INDEX decisions_session ON decisions(session_id, made_at);
                    CREATE TABLE commands (
                        id TEXT PRIMARY KEY,
                        decision_id INTEGER NOT NULL REFERENCES decisions(id),
                        session_id TEXT NOT NULL REFERENCES sessions(id),
                        action TEXT NOT NULL,
                        sent_at REAL NOT NULL,
                        acked_at REAL,
                        finished_at REAL,
                        status TEXT NOT NULL DEFAULT 'sent',
                        readback TEXT,
                        error TEXT
                    );
                    CREATE TABLE models (
                        id TEXT PRIMARY KEY,
                        created_at REAL NOT NULL,
                        path TEXT NOT NULL,
                        metadata TEXT NOT NULL
                    );
                    CREATE TABLE retraining_events (
                        id INTEGER PRIMARY KEY,
                        session_id TEXT NOT NULL REFERENCES sessions(id),
                        started_at REAL NOT NULL,
                        finished_at REAL,
                        reason TEXT NOT NULL,
                        estimate TEXT,
                        model_before TEXT,
                        model_after TEXT,
                        status TEXT NOT NULL,
                        metrics TEXT
                    );
                    CREATE TABLE rejected_inputs (
                        id INTEGER PRIMARY KEY,
                        session_id TEXT REFERENCES sessions(id),
                        received_at REAL NOT NULL,
                        source TEXT NOT NULL,
                        error TEXT NOT NULL,
                        detail TEXT
                    );
                    """)
        }
        // v2: frames are identified by the driver's session as well as its seq: a driver that
        // restarts mid-session starts its seq from 0 again. SQLite cannot change a UNIQUE
        // constraint in place, so the table is rebuilt (foreign keys are checked after the copy).
        migrator.registerMigration("v2") { db in
            try db.execute(
                sql: """
                    CREATE TABLE frames_v2 (
                        id INTEGER PRIMARY KEY,
                        session_id TEXT NOT NULL REFERENCES sessions(id),
                        driver_session TEXT NOT NULL DEFAULT '',
                        seq INTEGER NOT NULL,
                        received_at REAL NOT NULL,
                        width INTEGER NOT NULL,
                        height INTEGER NOT NULL,
                        pixel_size_angstrom REAL NOT NULL,
                        scan TEXT NOT NULL,
                        channels TEXT NOT NULL,
                        purpose TEXT,
                        command_id TEXT,
                        analysed INTEGER NOT NULL DEFAULT 0,
                        pixels BLOB,
                        thumbnail BLOB,
                        UNIQUE (session_id, driver_session, seq)
                    );
                    INSERT INTO frames_v2 (id, session_id, seq, received_at, width, height, pixel_size_angstrom, scan,
                                           channels, purpose, analysed, pixels, thumbnail)
                        SELECT id, session_id, seq, received_at, width, height, pixel_size_angstrom, scan, channels,
                               purpose, analysed, pixels, thumbnail FROM frames;
                    DROP TABLE frames;
                    ALTER TABLE frames_v2 RENAME TO frames;
                    CREATE INDEX frames_session ON frames(session_id, received_at);
                    CREATE INDEX commands_session ON commands(session_id, sent_at);
                    """)
        }
        // v3: which detector model analysed each frame (it changes when a retrained one is swapped in).
        migrator.registerMigration("v3") { db in
            try db.execute(sql: "ALTER TABLE frames ADD COLUMN model TEXT")
        }
        // v4: why a session ended, and the frames that were lost for good (asked for again, and
        // the driver no longer had them or their re-sent copy was refused too).
        migrator.registerMigration("v4") { db in
            try db.execute(
                sql: """
                    ALTER TABLE sessions ADD COLUMN end_reason TEXT;
                    CREATE TABLE lost_frames (
                        id INTEGER PRIMARY KEY,
                        session_id TEXT NOT NULL REFERENCES sessions(id),
                        driver_session TEXT NOT NULL,
                        seq INTEGER NOT NULL,
                        command_id TEXT,
                        recorded_at REAL NOT NULL,
                        reason TEXT NOT NULL,
                        UNIQUE (session_id, driver_session, seq)
                    );
                    """)
        }
        // v5: what the policy was shown before each of its decisions (the policy protocol's JSON),
        // so a policy can be replayed on a recorded session (scopepilot.replay).
        migrator.registerMigration("v5") { db in
            try db.execute(
                sql: """
                    CREATE TABLE observations (
                        decision_id INTEGER PRIMARY KEY REFERENCES decisions(id),
                        session_id TEXT NOT NULL REFERENCES sessions(id),
                        step INTEGER NOT NULL,
                        observation TEXT NOT NULL
                    );
                    CREATE INDEX observations_session ON observations(session_id, step);
                    """)
        }
        // v6: what a frame's header said of the beam and where the stage was, the dose the frame
        // delivered, its chip grid (to paint its communities), and stage coordinates for
        // detections and chips.
        migrator.registerMigration("v6") { db in
            try db.execute(
                sql: """
                    ALTER TABLE frames ADD COLUMN stage_x_nm REAL;
                    ALTER TABLE frames ADD COLUMN stage_y_nm REAL;
                    ALTER TABLE frames ADD COLUMN optics TEXT;
                    ALTER TABLE frames ADD COLUMN probe_current_pa REAL;
                    ALTER TABLE frames ADD COLUMN dose_e_per_A2 REAL;
                    ALTER TABLE frames ADD COLUMN electrons REAL;
                    ALTER TABLE frames ADD COLUMN chip_grid TEXT;
                    ALTER TABLE detections ADD COLUMN stage_x_nm REAL;
                    ALTER TABLE detections ADD COLUMN stage_y_nm REAL;
                    ALTER TABLE communities ADD COLUMN x_nm REAL;
                    ALTER TABLE communities ADD COLUMN y_nm REAL;
                    """)
        }
        // v7: the frames of record are files beside the log (`--store-pixels`); a frame names
        // its files by channel.
        migrator.registerMigration("v7") { db in
            try db.execute(sql: "ALTER TABLE frames ADD COLUMN pixels_files TEXT;")
        }
        // v8: a session served by a replay driver names what it replays; a replayed frame names
        // the recorded frame (or file) it is.
        migrator.registerMigration("v8") { db in
            try db.execute(
                sql: """
                    ALTER TABLE sessions ADD COLUMN replays TEXT;
                    ALTER TABLE frames ADD COLUMN source TEXT;
                    """)
        }
        return migrator
    }
}
