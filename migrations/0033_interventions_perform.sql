-- Who is assigned interventions (issue 21: a branch's planning day shows one column per
-- technician, and only technicians are offered and accepted on an intervention): the right
-- `service.interventions.perform`. The built-in role `technicien` receives it from the release's
-- defaults at start-up (access::roles::ensure_defaults, written to the role's history). Here the
-- roles an administrator made for technicians get it too, so that their people keep their
-- columns and stay assignable: a role that works interventions without booking them (it holds
-- `service.interventions.update`, not `service.interventions.create`). Roles that book them
-- (support agents) do not; an administrator grants it where someone both books and performs.
INSERT INTO role_rights (role_id, right_code)
SELECT r.id, 'service.interventions.perform' FROM roles r
WHERE r.builtin = 0
  AND EXISTS (SELECT 1 FROM role_rights u WHERE u.role_id = r.id AND u.right_code = 'service.interventions.update')
  AND NOT EXISTS (SELECT 1 FROM role_rights c WHERE c.role_id = r.id AND c.right_code = 'service.interventions.create')
  AND NOT EXISTS (SELECT 1 FROM role_rights p WHERE p.role_id = r.id AND p.right_code = 'service.interventions.perform');
