/**
 * The benchmark's data sets, generated server-side from MariaDB's sequence engine (nothing is
 * downloaded at run time): the same rows on every server that loads them, then a change set
 * applied on the source only.
 */
export interface Dataset {
  readonly name: string;
  /** Tables in load order (pt-table-sync runs table by table in this order). */
  readonly tables: readonly string[];
  /** Statements that create and fill database `db` (it does not exist yet). */
  load(db: string): string[];
  /** Statements run on the source's copy (database `src`, selected) after the load. */
  readonly delta: readonly string[];
  /** What the delta does, for the log. */
  readonly deltaText: string;
}

/** One wide-ish table `t` of `rows` rows (issue 3's data set); 1 % updated, 0.5 % inserted, 0.1 % deleted. */
export function singleTable(rows: number): Dataset {
  const inserted = Math.round(rows * 0.005);
  return {
    name: "single",
    tables: ["t"],
    load: (db) => [
      `CREATE DATABASE ${db}`,
      `USE ${db}`,
      `CREATE TABLE t (
        id BIGINT NOT NULL PRIMARY KEY,
        name VARCHAR(64) NOT NULL,
        amount DECIMAL(20,4) NOT NULL,
        note TEXT NULL,
        created DATETIME(6) NOT NULL
      ) ENGINE=InnoDB`,
      `INSERT INTO t SELECT seq, CONCAT('name-', seq), seq * 1.25, IF(seq % 7 = 0, NULL, REPEAT('x', seq % 50)),
         '2024-01-01 00:00:00' + INTERVAL seq SECOND + INTERVAL seq % 1000000 MICROSECOND FROM seq_1_to_${rows}`,
    ],
    delta: [
      `UPDATE t SET name = CONCAT(name, '-changed'), amount = amount + 1 WHERE id % 100 = 42`,
      `INSERT INTO t SELECT ${rows} + seq, CONCAT('new-', seq), seq, 'inserted', '2025-06-01 12:00:00.123456' FROM seq_1_to_${inserted}`,
      `DELETE FROM t WHERE id % 1000 = 7`,
    ],
    deltaText: `${Math.round(rows * 0.01)} updated, ${inserted} inserted, ${Math.round(rows * 0.001)} deleted`,
  };
}

/**
 * Shaped like MySQL's employees sample database (departments, employees, dept_emp,
 * dept_manager, titles, salaries; composite keys, DATE columns, ENUM, a UNIQUE name): with
 * 300,000 employees ~3.9 M rows, as the original (issue 12 counts 4.3 M) (foreign keys left out: both tools would
 * then need parent-first order, which is not what is compared). The delta is a month of HR:
 * 1 % hired (with department, title and salary), 5 % raises (the current salary closed, a new
 * one opened), 1 % promotions, 0.5 % department moves, 0.2 % leaving (all their rows deleted).
 */
export function employees(people: number): Dataset {
  const first = 10001;
  const last = first + people - 1;
  const hired = Math.round(people * 0.01);
  const dept = (expr: string) => `CONCAT('d00', 1 + (${expr}) % 9)`;
  const titles = `ELT(1 + %s % 7, 'Engineer', 'Senior Engineer', 'Staff', 'Senior Staff', 'Assistant Engineer', 'Technique Leader', 'Manager')`;
  const title = (expr: string) => titles.replace("%s", `(${expr})`);
  /** Employee numbers `from` .. `from + n - 1` as column `e`. */
  const range = (from: number, n: number) => `SELECT ${from - 1} + seq AS e FROM seq_1_to_${n}`;
  const fill = (src: string) => [
    `INSERT INTO employees SELECT e, '1952-02-01' + INTERVAL (e * 7919) % 4700 DAY, CONCAT('First', e % 1275), CONCAT('Last', e % 1637),
       IF(e % 5 < 3, 'M', 'F'), '1985-01-01' + INTERVAL (e * 104729) % 5000 DAY FROM (${src}) p`,
    `INSERT INTO dept_emp SELECT e, ${dept("e")}, '1985-01-01' + INTERVAL (e * 104729) % 5000 DAY,
       IF(e % 10 = 0, '1985-01-01' + INTERVAL (e * 104729) % 5000 + 700 DAY, '9999-01-01') FROM (${src}) p`,
    `INSERT INTO dept_emp SELECT e, ${dept("e + 4")}, '1985-01-01' + INTERVAL (e * 104729) % 5000 + 700 DAY, '9999-01-01' FROM (${src}) p WHERE e % 10 = 0`,
    // ~1.5 titles per employee, ~9.5 salaries (one a year from the hire date).
    `INSERT INTO titles SELECT e, ${title("e + k.seq")}, '1985-01-01' + INTERVAL (e * 104729) % 5000 + 900 * k.seq DAY,
       IF(k.seq = 0 AND e % 2 = 0, '1985-01-01' + INTERVAL (e * 104729) % 5000 + 900 DAY, '9999-01-01')
       FROM (${src}) p JOIN seq_0_to_1 k WHERE k.seq = 0 OR e % 2 = 0`,
    `INSERT INTO salaries SELECT e, 38000 + (e * 31 + k.seq * 977) % 90000, '1985-01-01' + INTERVAL (e * 104729) % 5000 + 365 * k.seq DAY,
       IF(k.seq = 8 + e % 2, '9999-01-01', '1985-01-01' + INTERVAL (e * 104729) % 5000 + 365 * (k.seq + 1) DAY)
       FROM (${src}) p JOIN seq_0_to_9 k WHERE k.seq < 9 + e % 2`,
  ];
  return {
    name: "employees",
    tables: ["departments", "employees", "dept_emp", "dept_manager", "titles", "salaries"],
    load: (db) => [
      `CREATE DATABASE ${db}`,
      `USE ${db}`,
      "CREATE TABLE departments (dept_no CHAR(4) NOT NULL PRIMARY KEY, dept_name VARCHAR(40) NOT NULL, UNIQUE KEY (dept_name)) ENGINE=InnoDB",
      `CREATE TABLE employees (emp_no INT NOT NULL PRIMARY KEY, birth_date DATE NOT NULL, first_name VARCHAR(14) NOT NULL,
         last_name VARCHAR(16) NOT NULL, gender ENUM('M','F') NOT NULL, hire_date DATE NOT NULL) ENGINE=InnoDB`,
      `CREATE TABLE dept_emp (emp_no INT NOT NULL, dept_no CHAR(4) NOT NULL, from_date DATE NOT NULL, to_date DATE NOT NULL,
         PRIMARY KEY (emp_no, dept_no), KEY (dept_no)) ENGINE=InnoDB`,
      `CREATE TABLE dept_manager (emp_no INT NOT NULL, dept_no CHAR(4) NOT NULL, from_date DATE NOT NULL, to_date DATE NOT NULL,
         PRIMARY KEY (emp_no, dept_no), KEY (dept_no)) ENGINE=InnoDB`,
      `CREATE TABLE titles (emp_no INT NOT NULL, title VARCHAR(50) NOT NULL, from_date DATE NOT NULL, to_date DATE NULL,
         PRIMARY KEY (emp_no, title, from_date)) ENGINE=InnoDB`,
      `CREATE TABLE salaries (emp_no INT NOT NULL, salary INT NOT NULL, from_date DATE NOT NULL, to_date DATE NOT NULL,
         PRIMARY KEY (emp_no, from_date)) ENGINE=InnoDB`,
      `INSERT INTO departments VALUES ('d001','Marketing'),('d002','Finance'),('d003','Human Resources'),('d004','Production'),
         ('d005','Development'),('d006','Quality Management'),('d007','Sales'),('d008','Research'),('d009','Customer Service')`,
      ...fill(range(first, people)),
      `INSERT INTO dept_manager SELECT ${first} + seq * 7, ${dept("seq")}, '1985-01-01' + INTERVAL seq * 300 DAY,
         IF(seq < 15, '1985-01-01' + INTERVAL seq * 300 + 2000 DAY, '9999-01-01') FROM seq_0_to_23`,
    ],
    delta: [
      ...fill(range(last + 1, hired)),
      `UPDATE salaries SET to_date = '2026-11-01' WHERE to_date = '9999-01-01' AND emp_no % 20 = 3`,
      `INSERT INTO salaries SELECT emp_no, salary + 1500, '2026-11-01', '9999-01-01' FROM salaries WHERE to_date = '2026-11-01' AND emp_no % 20 = 3`,
      `UPDATE titles SET to_date = '2026-11-01' WHERE to_date = '9999-01-01' AND emp_no % 100 = 11`,
      `INSERT IGNORE INTO titles SELECT emp_no, 'Senior Staff', '2026-11-01', '9999-01-01' FROM titles WHERE to_date = '2026-11-01' AND emp_no % 100 = 11`,
      `UPDATE dept_emp SET to_date = '2026-11-01' WHERE to_date = '9999-01-01' AND emp_no % 200 = 17`,
      `INSERT IGNORE INTO dept_emp SELECT emp_no, ${dept("emp_no + 1")}, '2026-11-01', '9999-01-01' FROM dept_emp WHERE to_date = '2026-11-01' AND emp_no % 200 = 17`,
      ...["salaries", "titles", "dept_emp", "dept_manager", "employees"].map((t) => `DELETE FROM ${t} WHERE emp_no % 500 = 123`),
      `UPDATE departments SET dept_name = 'Customer Success' WHERE dept_no = 'd009'`,
    ],
    deltaText: `${hired} hired, 5 % raises, 1 % promotions, 0.5 % department moves, 0.2 % left, one department renamed`,
  };
}
