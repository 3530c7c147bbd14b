-- The global search (issue 21) finds equipment by the beginning of its serial number, in
-- byte order on both backends (the existing indexes lead with the customer).
CREATE INDEX equipment_serial_number ON equipment (serial_number {{BYTE_ORDER}}, id);
