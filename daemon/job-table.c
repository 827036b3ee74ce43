/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one table of job kinds (see job-type.h).
 */
#include <string.h>

#include "job-type.h"

static const JobType *const job_types[_JOB_KIND_MAX] = {
        [JOB_PROBE] = &job_type_probe,
        [JOB_BACKUP] = &job_type_backup,
        [JOB_SYNC] = &job_type_sync,
        [JOB_VERIFY] = &job_type_verify,
        [JOB_RESTORE] = &job_type_restore,
        [JOB_DELETE] = &job_type_delete,
        [JOB_APPLY] = &job_type_apply,
        [JOB_FILES] = &job_type_files,
        [JOB_EXTRACT] = &job_type_extract,
};

const JobType *job_type_get(JobKind kind) {
        return (unsigned) kind < _JOB_KIND_MAX ? job_types[kind] : NULL;
}

const char *job_kind_to_string(JobKind k) {
        const JobType *t = job_type_get(k);

        return t ? t->name : NULL;
}

JobKind job_kind_from_string(const char *s) {
        for (int k = 0; k < _JOB_KIND_MAX; k++)
                if (s && strcmp(job_types[k]->name, s) == 0)
                        return (JobKind) k;
        return _JOB_KIND_INVALID;
}
