-- Every credit note and the order it credits (int_credit_note_assignments): how it was found,
-- and what an operator's link to it fingerprints. Marts only publish: `recon exceptions
-- match ... --in credit_notes` checks its keys and takes its fingerprints from here.
select
    assignments.*
from {{ ref('int_credit_note_assignments') }} as assignments
